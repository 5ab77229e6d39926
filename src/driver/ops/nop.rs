//! A no-op: one trip through the driver, for benchmarks and tests.

use crate::driver::{Decision, Operation};
use io_uring::{opcode, squeue};
use std::io;

pub(crate) struct Nop;

// SAFETY: a NOP entry carries no pointers.
unsafe impl Operation for Nop {
    type Output = io::Result<()>;

    fn uring_entry(&mut self) -> Option<squeue::Entry> {
        Some(opcode::Nop::new().build())
    }

    fn decide(&mut self) -> Decision<'_> {
        Decision::Now
    }

    fn attempt(&mut self) -> io::Result<u32> {
        Ok(0)
    }

    fn complete(self, result: io::Result<u32>, _flags: u32) -> io::Result<()> {
        result.map(drop)
    }
}
