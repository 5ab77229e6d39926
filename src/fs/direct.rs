//! Direct I/O ([`OpenOptions::direct`](super::OpenOptions::direct)): the alignment a
//! file's direct reads and writes need, and the check they pass before submission.
//!
//! With `O_DIRECT` the kernel moves data between the device and the caller's memory
//! without the page cache, so the buffer's address, the file offset and the length must
//! be multiples of what the file system and the device allow. Linux reports those with
//! `statx(2)`'s STATX_DIOALIGN (6.1 and later, on the file systems that fill it in);
//! where it does not, 4096 bytes (a page, and the logical block size of nearly every
//! device) is safe. A misaligned request is refused here, naming what is misaligned,
//! instead of coming back from the kernel as a bare `EINVAL`.

use std::io;

/// The alignments direct I/O on a file needs, from `statx(2)`'s STATX_DIOALIGN where
/// the kernel reports it, else [`DEFAULT`](DirectIoAlignment::DEFAULT) for both.
///
/// ```
/// # ringio::run(async {
/// use ringio::fs::OpenOptions;
/// let path = std::env::temp_dir().join(format!("ringio-doc-direct-{}", std::process::id()));
/// match OpenOptions::new().read(true).write(true).create(true).direct(true).open(&path).await {
///     Ok(file) => {
///         let align = file.direct_io_alignment().expect("opened for direct I/O");
///         assert!(align.memory().is_power_of_two() && align.offset().is_power_of_two());
///     }
///     // Some file systems refuse O_DIRECT (procfs; tmpfs before Linux 6.6).
///     Err(e) => assert!(e.to_string().contains("O_DIRECT"), "{e}"),
/// }
/// let _ = std::fs::remove_file(&path);
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DirectIoAlignment {
    memory: usize,
    offset: usize,
    reported: bool,
}

impl DirectIoAlignment {
    /// The alignment assumed where the kernel reports none: 4096 bytes.
    pub const DEFAULT: usize = 4096;

    /// From a `statx` record asked for STATX_DIOALIGN.
    pub(crate) fn from_statx(stx: &libc::statx) -> DirectIoAlignment {
        DirectIoAlignment::from_fields(
            stx.stx_mask,
            stx.stx_dio_mem_align,
            stx.stx_dio_offset_align,
        )
    }

    /// From `statx`'s `stx_mask`, `stx_dio_mem_align` and `stx_dio_offset_align`.
    fn from_fields(mask: u32, memory: u32, offset: u32) -> DirectIoAlignment {
        let reported = mask & libc::STATX_DIOALIGN != 0
            && memory.is_power_of_two()
            && offset.is_power_of_two();
        if reported {
            DirectIoAlignment {
                memory: memory as usize,
                offset: offset as usize,
                reported,
            }
        } else {
            DirectIoAlignment::default()
        }
    }

    /// What a buffer's address must be a multiple of (`stx_dio_mem_align`).
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// What a file offset and a length must be multiples of (`stx_dio_offset_align`).
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Whether the kernel reported these values (else they are the default).
    pub fn is_reported(&self) -> bool {
        self.reported
    }

    /// Checks one direct transfer: `bufs` (address and length of each buffer, in
    /// order) at file offset `offset`.
    pub(crate) fn check(
        &self,
        bufs: impl IntoIterator<Item = (*const u8, usize)>,
        offset: u64,
    ) -> io::Result<()> {
        if offset % self.offset as u64 != 0 {
            return Err(misaligned(format!(
                "the file offset {offset} is not a multiple of {} (the file's offset alignment)",
                self.offset
            )));
        }
        for (ptr, len) in bufs {
            if ptr as usize % self.memory != 0 {
                return Err(misaligned(format!(
                    "the buffer address {ptr:p} is not a multiple of {} (the file's memory alignment)",
                    self.memory
                )));
            }
            if len % self.offset != 0 {
                return Err(misaligned(format!(
                    "the length {len} is not a multiple of {} (the file's offset alignment)",
                    self.offset
                )));
            }
        }
        Ok(())
    }
}

impl Default for DirectIoAlignment {
    fn default() -> DirectIoAlignment {
        DirectIoAlignment {
            memory: DirectIoAlignment::DEFAULT,
            offset: DirectIoAlignment::DEFAULT,
            reported: false,
        }
    }
}

fn misaligned(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, format!("direct I/O: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_misaligned() {
        let a = DirectIoAlignment {
            memory: 512,
            offset: 4096,
            reported: true,
        };
        let at = |addr: usize| addr as *const u8;
        assert!(a.check([(at(512), 8192)], 4096).is_ok());
        let err = |r: io::Result<()>| r.unwrap_err().to_string();
        assert!(err(a.check([(at(512), 8192)], 100)).contains("file offset 100"));
        assert!(err(a.check([(at(513), 8192)], 0)).contains("buffer address"));
        assert!(err(a.check([(at(512), 4096), (at(1024), 10)], 0)).contains("length 10"));
        let e = a.check([(at(1), 1)], 0).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn unreported_means_the_default() {
        let a = DirectIoAlignment::from_fields(libc::STATX_BASIC_STATS, 0, 0);
        assert_eq!(
            (a.memory(), a.offset(), a.is_reported()),
            (4096, 4096, false)
        );
        // Asked and answered 0: the file system cannot say; the default again.
        let a = DirectIoAlignment::from_fields(libc::STATX_DIOALIGN, 0, 0);
        assert!(!a.is_reported());
        let a = DirectIoAlignment::from_fields(libc::STATX_DIOALIGN, 4, 512);
        assert_eq!((a.memory(), a.offset(), a.is_reported()), (4, 512, true));
    }
}
