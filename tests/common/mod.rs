//! Shared by the integration tests: a conformance `Harness` that isolates
//! faults in a forked child.
#![allow(dead_code)] // each test crate uses a different part

use std::time::Duration;

use wrt_platform::conformance::{Harness, StdHarness};

/// `StdHarness` plus fork-based fault isolation.
#[derive(Default)]
pub struct ForkHarness(StdHarness);

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
