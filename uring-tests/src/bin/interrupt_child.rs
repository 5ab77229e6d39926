//! Runs `Runtime::block_on_interruptible` for `tests/task_api_signals.rs`, which sends
//! it SIGINTs.
//!
//! ```text
//! interrupt_child once   # waits in a sleep; one SIGINT must return Err(Interrupted)
//! interrupt_child spin   # spins without yielding; the second SIGINT exits with 130
//! ```
//! It prints `ready` once the handler is installed, so the parent knows when to signal.

use std::io::Write;
use std::time::Duration;

fn main() {
    let mode = std::env::args().nth(1).expect("mode");
    let rt = ringio::Runtime::new().unwrap();
    let dropped = std::rc::Rc::new(std::cell::Cell::new(false));
    struct Flag(std::rc::Rc<std::cell::Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }
    let flag = Flag(dropped.clone());
    let res = rt.block_on_interruptible(async move {
        let _flag = flag;
        println!("ready");
        std::io::stdout().flush().unwrap();
        match mode.as_str() {
            "once" => ringio::time::sleep(Duration::from_secs(3600)).await,
            "spin" => {
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                while std::time::Instant::now() < deadline {
                    std::hint::spin_loop();
                }
            }
            other => panic!("unknown mode {other}"),
        }
    });
    match res {
        Err(e) => {
            assert!(dropped.get(), "the main future was dropped");
            println!("interrupted: {e}");
        }
        Ok(()) => println!("finished without a signal"),
    }
}
