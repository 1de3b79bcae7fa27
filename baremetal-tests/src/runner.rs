//! Runs named tests and counts them: one `PASS`/`FAIL`/`SKIP` line each
//! (preceded by `RUN`, so a hang names its test), then the summary line.

use wrt_platform::conformance::{Failure, Outcome, Verdict};

use crate::sched::now;

/// Fails the current test unless `cond` holds.
macro_rules! check {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(wrt_platform::conformance::Failure::new(format_args!($($fmt)+)));
        }
    };
}

/// Fails the current test unless `left == right`.
macro_rules! check_eq {
    ($left:expr, $right:expr, $what:expr) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(wrt_platform::conformance::Failure::new(format_args!(
                "{}: got {:?}, expected {:?}",
                $what, l, r
            )));
        }
    }};
}

pub(crate) use {check, check_eq};

/// Counts of one image's tests.
pub struct Runner {
    label: &'static str,
    passed: u32,
    failed: u32,
    skipped: u32,
}

impl Runner {
    /// A runner whose summary line starts with `label`.
    pub const fn new(label: &'static str) -> Self {
        Self {
            label,
            passed: 0,
            failed: 0,
            skipped: 0,
        }
    }

    /// Runs one test and reports it.
    pub fn run(&mut self, name: &str, f: impl FnOnce() -> Outcome) {
        println!("RUN  {name}");
        let t0 = now();
        let outcome = f();
        let ms = (now() - t0).as_millis();
        self.report(name, outcome, ms);
    }

    /// Runs a check that this backend is documented to refuse at the
    /// step `refused` (for example a conformance check that needs
    /// `protect(READ)`, which is `NOTSUP` without an MMU). Exactly that
    /// failure is reported as `SKIP` with `why`; passing, or failing any
    /// other way, is a `FAIL`.
    pub fn run_refused(
        &mut self,
        name: &str,
        refused: &Failure,
        why: &str,
        f: impl FnOnce() -> Outcome,
    ) {
        println!("RUN  {name}");
        let t0 = now();
        let outcome = f();
        let ms = (now() - t0).as_millis();
        match outcome {
            Err(e) if e.message() == refused.message() => {
                self.skipped += 1;
                println!("SKIP {name} ({ms} ms): {why} [{e}]");
            }
            Ok(Verdict::Passed) => self.report(
                name,
                Err(Failure::new(format_args!(
                    "passed, but this backend should refuse it: {}",
                    refused.message()
                ))),
                ms,
            ),
            other => self.report(name, other, ms),
        }
    }

    fn report(&mut self, name: &str, outcome: Outcome, ms: u128) {
        match outcome {
            Ok(Verdict::Passed) => {
                self.passed += 1;
                println!("PASS {name} ({ms} ms)");
            }
            Ok(Verdict::Skipped(why)) => {
                self.skipped += 1;
                println!("SKIP {name} ({ms} ms): {why}");
            }
            Err(e) => {
                self.failed += 1;
                println!("FAIL {name} ({ms} ms): {e}");
            }
        }
    }

    /// Prints the summary line; returns the exit status (1 if anything
    /// failed or nothing passed).
    pub fn finish(&self) -> u32 {
        println!(
            "{}: {} passed, {} failed, {} skipped",
            self.label, self.passed, self.failed, self.skipped
        );
        u32::from(self.failed != 0 || self.passed == 0)
    }
}
