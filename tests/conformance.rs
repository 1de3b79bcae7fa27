//! The conformance suite (`wrt_platform::conformance`) against the Linux
//! backend: natively on x86_64, and on aarch64 under
//! `qemu-aarch64-static -cpu max` (the runner in `.cargo/config.toml`).
//!
//! Fault checks run in a forked child: it dies of SIGSEGV/SIGBUS when the
//! access faults, exits 0 when it does not.
#![cfg(target_os = "linux")]

mod common;

use common::ForkHarness;
use wrt_platform::conformance::Harness;
use wrt_platform::os::linux::{LinuxFutex, LinuxPages};

wrt_platform::conformance_tests!(
    pages: LinuxPages::new().expect("LinuxPages::new"),
    futex: LinuxFutex,
    harness: ForkHarness::default()
);

/// The fork harness itself tells a fault from a clean return, so the
/// conformance fault checks cannot pass vacuously.
#[test]
fn fork_harness_distinguishes_fault_from_return() {
    let h = ForkHarness::default();
    assert_eq!(h.faults(&|| {}), Some(false));
    let null = std::ptr::null::<u8>();
    let read_null = || {
        // SAFETY: deliberately faults, in the child only.
        unsafe { std::hint::black_box(null).read_volatile() };
    };
    assert_eq!(h.faults(&read_null), Some(true));
}
