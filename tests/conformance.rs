//! The conformance suite (`wrt_platform::conformance`) against the Linux
//! backend: natively on x86_64, and on aarch64 under
//! `qemu-aarch64-static -cpu max` (the runner in `.cargo/config.toml`).
//!
//! Fault checks run in a forked child: it dies of SIGSEGV/SIGBUS when the
//! access faults, exits 0 when it does not.
#![cfg(target_os = "linux")]

use std::time::Duration;

use wrt_platform::conformance::{Harness, StdHarness};
use wrt_platform::os::linux::{LinuxFutex, LinuxPages};

/// `StdHarness` plus fork-based fault isolation.
#[derive(Default)]
struct ForkHarness(StdHarness);

impl Harness for ForkHarness {
    fn concurrently(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        self.0.concurrently(n, f);
    }

    fn faults(&self, f: &dyn Fn()) -> Option<bool> {
        // SAFETY: the child only runs `f` (volatile accesses and raw system
        // calls, no allocation, no locks) and leaves with `_exit`.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork failed");
        if pid == 0 {
            let no_core = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: plain system calls in the child; no core file for the
            // expected crash.
            unsafe { libc::setrlimit(libc::RLIMIT_CORE, &no_core) };
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_ok();
            // SAFETY: leaves the child without running the parent's atexit
            // handlers or destructors.
            unsafe { libc::_exit(if ok { 0 } else { 101 }) };
        }
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-pointer.
        let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
        assert_eq!(waited, pid, "waitpid failed");
        if libc::WIFSIGNALED(status) {
            let sig = libc::WTERMSIG(status);
            assert!(
                sig == libc::SIGSEGV || sig == libc::SIGBUS,
                "child died of unexpected signal {sig}"
            );
            Some(true)
        } else {
            assert_eq!(
                libc::WEXITSTATUS(status),
                0,
                "child failed without faulting"
            );
            Some(false)
        }
    }

    fn now(&self) -> Duration {
        self.0.now()
    }

    fn sleep(&self, d: Duration) {
        self.0.sleep(d);
    }
}

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
