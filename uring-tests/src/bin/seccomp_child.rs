//! Runs ringio where io_uring is forbidden, the way container runtimes forbid it: a
//! seccomp filter makes `io_uring_setup` fail with the errno given. Started by
//! `tests/fallback.rs`; prints what happened and exits 0 when ringio behaved.
//!
//! ```text
//! seccomp_child EPERM|ENOSYS auto     # Auto comes up on epoll and does a TCP round trip
//! seccomp_child EPERM|ENOSYS uring    # a forced Uring fails, saying why
//! seccomp_child none env              # RINGIO_DRIVER picks the backend (no filter)
//! ```

use ringio::io::{AsyncReadOwned, AsyncWriteOwned};
use ringio::net::{TcpListener, TcpStream};
use ringio::runtime::{Builder, Driver};

/// Installs a filter that fails `io_uring_setup` with `errno` and allows all else.
fn forbid_io_uring(errno: u32) {
    #[cfg(target_arch = "x86_64")]
    const AUDIT_ARCH: u32 = 0xC000_003E;
    #[cfg(target_arch = "aarch64")]
    const AUDIT_ARCH: u32 = 0xC000_00B7;
    const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
    const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
    const RET_K: u16 = 0x06; // BPF_RET | BPF_K
    const RET_ERRNO: u32 = 0x0005_0000;
    const RET_ALLOW: u32 = 0x7fff_0000;
    let insn = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        insn(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        insn(JEQ_K, 0, 3, AUDIT_ARCH),
        insn(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        insn(JEQ_K, 0, 1, libc::SYS_io_uring_setup as u32),
        insn(RET_K, 0, 0, RET_ERRNO | errno),
        insn(RET_K, 0, 0, RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut _,
    };
    // SAFETY: PR_SET_NO_NEW_PRIVS takes plain integers.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    assert_eq!(
        rc,
        0,
        "PR_SET_NO_NEW_PRIVS: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: `prog` points at `filter`, both alive for the call; the kernel copies them.
    let rc = unsafe {
        libc::prctl(
            libc::PR_SET_SECCOMP,
            libc::SECCOMP_MODE_FILTER,
            &prog as *const libc::sock_fprog,
        )
    };
    assert_eq!(rc, 0, "PR_SET_SECCOMP: {}", std::io::Error::last_os_error());
    // Check the filter bites before trusting any result built on it.
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup reads/writes a 120-byte params struct, which `params` is.
    let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, params.as_mut_ptr()) };
    let err = std::io::Error::last_os_error();
    assert!(
        rc < 0 && err.raw_os_error() == Some(errno as i32),
        "filter not in force: rc {rc}, {err}"
    );
}

fn round_trip(rt: &ringio::Runtime) {
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = ringio::spawn(async move {
            let (s, _) = l.accept().await.unwrap();
            let (res, buf) = s.read_exact(vec![0u8; 5]).await;
            res.unwrap();
            s.write_all(buf).await.0.unwrap();
        });
        let c = TcpStream::connect(addr).await.unwrap();
        c.write_all(b"hello").await.0.unwrap();
        let (res, buf) = c.read_exact(vec![0u8; 5]).await;
        res.unwrap();
        assert_eq!(&buf, b"hello");
        server.await.unwrap();
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [errno, mode] = [args[0].as_str(), args[1].as_str()];
    match errno {
        "EPERM" => forbid_io_uring(libc::EPERM as u32),
        "ENOSYS" => forbid_io_uring(libc::ENOSYS as u32),
        "none" => {}
        other => panic!("unknown errno {other}"),
    }
    match mode {
        "auto" => {
            let rt = Builder::new()
                .driver(Driver::Auto)
                .build()
                .expect("Auto must fall back, not fail");
            let info = rt.driver_info();
            assert_eq!(info.driver(), Driver::Epoll, "{info}");
            let reason = info.fallback_reason().expect("the fallback says why");
            assert!(
                reason.contains("io_uring_setup") && reason.contains(errno),
                "{reason}"
            );
            round_trip(&rt);
            println!("driver: {info}");
        }
        "uring" => {
            let err = Builder::new()
                .driver(Driver::Uring)
                .build()
                .expect_err("a forced Uring must not fall back");
            let msg = err.to_string();
            assert!(
                msg.contains("io_uring_setup") && msg.contains(errno),
                "{msg}"
            );
            // The environment forcing it fails the same way.
            std::env::set_var("RINGIO_DRIVER", "uring");
            let err = Builder::new()
                .build()
                .expect_err("RINGIO_DRIVER=uring must not fall back");
            assert!(err.to_string().contains(errno), "{err}");
            println!("error: {msg}");
        }
        "env" => {
            // Run with RINGIO_DRIVER set by the parent.
            let want = std::env::var("RINGIO_EXPECT").unwrap();
            match Builder::new().build() {
                Ok(rt) => {
                    let got = format!("{:?}", rt.driver_info().driver());
                    assert_eq!(got, want, "{}", rt.driver_info());
                    round_trip(&rt);
                    // An explicit builder choice wins over the variable.
                    let other = if want == "Uring" {
                        Driver::Epoll
                    } else {
                        Driver::Uring
                    };
                    let rt = Builder::new().driver(other).build().unwrap();
                    assert_eq!(rt.driver_info().driver(), other);
                    println!("driver: {}", rt.driver_info());
                }
                Err(e) => {
                    assert_eq!(want, "error", "{e}");
                    println!("error: {e}");
                }
            }
        }
        other => panic!("unknown mode {other}"),
    }
}
