//! Ring setup: the flag ladder, the opcode probe, and the registered ring fd.

use super::super::sys::{errno_name, kernel_version};
use super::super::{DriverConfig, DriverInfo};
use io_uring::{opcode, IoUring};
use std::io;
use std::os::fd::{AsRawFd, RawFd};

/// Opcodes ringio submits; a kernel lacking any of them gets the epoll backend.
const REQUIRED_OPCODES: &[(u8, &str)] = &[
    (opcode::Nop::CODE, "NOP"),
    (opcode::Read::CODE, "READ"),
    // File I/O (all since 5.6, below the 5.11 floor).
    (opcode::Write::CODE, "WRITE"),
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::Fallocate::CODE, "FALLOCATE"),
    (opcode::Readv::CODE, "READV"),
    (opcode::Writev::CODE, "WRITEV"),
    (opcode::RecvMsg::CODE, "RECVMSG"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Recv::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::PollAdd::CODE, "POLL_ADD"),
];

/// The setup flags tried in order, fastest first; each step drops what an older kernel
/// rejects with EINVAL. TASKRUN_FLAG makes the kernel flag pending task work in the SQ
/// ring, so a turn with nothing to submit skips `io_uring_enter` unless there is work.
const SETUP_LADDER: &[&[&str]] = &[
    &["SINGLE_ISSUER", "DEFER_TASKRUN", "TASKRUN_FLAG"],
    &["SINGLE_ISSUER", "DEFER_TASKRUN", "COOP_TASKRUN"],
    &["SINGLE_ISSUER", "COOP_TASKRUN"],
    &["COOP_TASKRUN"],
    &[],
];

/// The rungs tried first when SQPOLL is asked for (a kernel thread polls the SQ; the
/// kernel rejects DEFER_TASKRUN with it). If none is accepted, the ordinary ladder
/// follows, and `DriverInfo::flags` shows SQPOLL missing.
const SQPOLL_LADDER: &[&[&str]] = &[&["SQPOLL", "SINGLE_ISSUER"], &["SQPOLL"]];

/// A ring as built, with what the kernel turned out to support.
pub(super) struct Built {
    pub(super) ring: IoUring,
    pub(super) info: DriverInfo,
    /// IORING_OP_MSG_RING and CQE_SKIP_SUCCESS (Linux 5.18).
    pub(super) msg_ring: bool,
    /// Multishot accept and receive, and provided buffer rings (Linux 6.0).
    pub(super) multishot: bool,
    /// IORING_OP_SEND_ZC (Linux 6.0).
    pub(super) send_zc: bool,
    pub(super) fixed_files: Option<std::rc::Rc<super::super::fixed::FixedFiles>>,
    pub(super) fixed_buffers: Option<std::rc::Rc<super::super::fixed::FixedBuffers>>,
    /// This ring's index among the thread's registered ring fds, if registered.
    pub(super) ring_index: Option<u32>,
}

/// Builds and probes a ring for `config`; an error says why io_uring cannot be used.
pub(super) fn build(config: &DriverConfig) -> io::Result<Built> {
    let mut entries = config.entries.max(2).next_power_of_two();
    // Without CAP_IPC_LOCK the kernel charges the rings to RLIMIT_MEMLOCK; a low limit
    // makes setup fail with ENOMEM. A smaller ring (down to 8 entries) may still fit,
    // and is better than epoll: halve and retry, and say so in the flags.
    let (ring, mut flags) = loop {
        match setup(entries, config.sqpoll_idle) {
            Err(e) if e.kind() == io::ErrorKind::OutOfMemory && entries > 8 => entries /= 2,
            Err(e) => return Err(e),
            Ok((ring, mut flags)) => {
                if entries < config.entries.max(2).next_power_of_two() {
                    flags.push("SMALLER_RING_FOR_MEMLOCK");
                }
                break (ring, flags);
            }
        }
    };
    if !ring.params().is_feature_nodrop() {
        return Err(unsupported(
            "the kernel lacks IORING_FEAT_NODROP (Linux 5.5)",
        ));
    }
    if !ring.params().is_feature_ext_arg() {
        return Err(unsupported(
            "the kernel lacks IORING_FEAT_EXT_ARG (Linux 5.11)",
        ));
    }
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    if let Some((_, name)) = REQUIRED_OPCODES
        .iter()
        .find(|(code, _)| !probe.is_supported(*code))
    {
        return Err(unsupported(&format!(
            "the kernel's io_uring lacks opcode {name}"
        )));
    }
    flags.extend(["NODROP", "EXT_ARG"]);
    let msg_ring = probe.is_supported(opcode::MsgRingData::CODE)
        && ring.params().is_feature_skip_cqe_on_success();
    if msg_ring {
        flags.push("MSG_RING");
    }
    if ring.params().is_feature_fast_poll() {
        flags.push("FAST_POLL");
    }
    // Multishot receive with provided buffer rings arrived in 6.0 (accept's in 5.19,
    // rings in 5.19); the opcode probe cannot tell, the version can.
    let multishot = config.multishot && kernel_version() >= (6, 0);
    let send_zc = probe.is_supported(opcode::SendZc::CODE);
    if send_zc {
        flags.push("SEND_ZC");
    }
    // IORING_OP_WAITID (Linux 6.7): child processes are reaped by a ring entry instead
    // of a pidfd readiness wait.
    if probe.is_supported(opcode::WaitId::CODE) {
        flags.push("WAITID");
    }
    if multishot {
        flags.extend(["MULTISHOT", "PBUF_RING"]);
    }
    let fixed_files = (config.fixed_files > 0)
        .then(|| ring.submitter().register_files_sparse(config.fixed_files))
        .and_then(Result::ok)
        .map(|()| super::super::fixed::FixedFiles::new(ring.as_raw_fd(), config.fixed_files));
    if fixed_files.is_some() {
        flags.push("FIXED_FILES");
    }
    let fixed_buffers = (config.fixed_buffers > 0)
        .then(|| {
            ring.submitter()
                .register_buffers_sparse(config.fixed_buffers as u32)
        })
        .and_then(Result::ok)
        .map(|()| super::super::fixed::FixedBuffers::new(ring.as_raw_fd(), config.fixed_buffers));
    if fixed_buffers.is_some() {
        flags.push("FIXED_BUFFERS");
    }
    // Cap the kernel's worker threads for this ring (Linux 5.15): buffered file I/O
    // would otherwise start one per blocked operation. An older kernel refuses; the
    // ring works without the cap.
    if config.io_workers != [0, 0] {
        let mut caps = config.io_workers;
        if ring
            .submitter()
            .register_iowq_max_workers(&mut caps)
            .is_ok()
        {
            flags.push("IOWQ_MAX_WORKERS");
        }
    }
    // Enter by a registered index instead of the fd: no fd table look-up per enter.
    let ring_index = register_ring_fd(ring.as_raw_fd());
    if ring_index.is_some() {
        flags.push("REGISTERED_RING");
    }
    let info = DriverInfo {
        driver: super::super::Driver::Uring,
        flags,
        entries: ring.params().sq_entries(),
        reason: None,
    };
    Ok(Built {
        ring,
        info,
        msg_ring,
        multishot,
        send_zc,
        fixed_files,
        fixed_buffers,
        ring_index,
    })
}

/// Builds the ring with the fastest setup flags the kernel accepts (SQPOLL first, with
/// this idle time in ms, when asked for).
fn setup(entries: u32, sqpoll_idle: Option<u32>) -> io::Result<(IoUring, Vec<&'static str>)> {
    let mut last = None;
    let sqpoll_rungs = if sqpoll_idle.is_some() {
        SQPOLL_LADDER
    } else {
        &[]
    };
    for flags in sqpoll_rungs.iter().chain(SETUP_LADDER) {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(entries * 4).setup_clamp();
        for flag in *flags {
            match *flag {
                "SINGLE_ISSUER" => builder.setup_single_issuer(),
                "DEFER_TASKRUN" => builder.setup_defer_taskrun(),
                "COOP_TASKRUN" => builder.setup_coop_taskrun(),
                "TASKRUN_FLAG" => builder.setup_taskrun_flag(),
                "SQPOLL" => builder.setup_sqpoll(sqpoll_idle.unwrap_or(0)),
                _ => unreachable!("unknown setup flag {flag}"),
            };
        }
        match builder.build(entries) {
            Ok(ring) => return Ok((ring, flags.to_vec())),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) => return Err(setup_error(e)),
        }
    }
    Err(setup_error(last.expect("the ladder is not empty")))
}

/// Says why io_uring_setup failed, naming the errno and the sysctl when it is set.
fn setup_error(e: io::Error) -> io::Error {
    let code = e.raw_os_error().unwrap_or(0);
    let mut msg = format!("io_uring_setup failed: {e} ({})", errno_name(code));
    if let Ok(v) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled") {
        let v = v.trim();
        if v != "0" {
            msg.push_str(&format!("; kernel.io_uring_disabled = {v}"));
        }
    }
    io::Error::new(e.kind(), msg)
}

fn unsupported(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Unsupported, msg.to_string())
}

/// `struct io_uring_rsrc_update` from linux/io_uring.h.
#[repr(C)]
struct RsrcUpdate {
    offset: u32,
    resv: u32,
    data: u64,
}

/// `IORING_(UN)REGISTER_RING_FDS` from linux/io_uring.h.
const REGISTER_RING_FDS: libc::c_uint = 20;
const UNREGISTER_RING_FDS: libc::c_uint = 21;

/// Frees this thread's registered ring slot `index` (a thread has only 16).
pub(super) fn unregister_ring_fd(ring_fd: RawFd, index: u32) {
    let mut update = RsrcUpdate {
        offset: index,
        resv: 0,
        data: 0,
    };
    // SAFETY: as in `register_ring_fd`. A `Uring` is `!Send` (it lives in an `Rc`), so
    // this runs on the thread that registered the slot.
    unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd,
            UNREGISTER_RING_FDS,
            &mut update as *mut RsrcUpdate,
            1,
        )
    };
}

/// Registers `ring_fd` in this thread's registered ring table (Linux 5.18); returns its
/// index, or `None` where the kernel cannot (or the thread's 16 slots are taken). The
/// entry is the calling thread's; rings are only ever entered from the thread that
/// built them (a `Uring` is `!Send`), and `Drop` frees the slot.
fn register_ring_fd(ring_fd: RawFd) -> Option<u32> {
    let mut update = RsrcUpdate {
        offset: u32::MAX, // any free slot
        resv: 0,
        data: ring_fd as u64,
    };
    // SAFETY: IORING_REGISTER_RING_FDS reads and writes one io_uring_rsrc_update, which
    // `update` is, live for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd,
            REGISTER_RING_FDS,
            &mut update as *mut RsrcUpdate,
            1,
        )
    };
    (rc == 1).then_some(update.offset)
}
