//! macOS futexes: `__ulock_wait2` / `__ulock_wait` / `__ulock_wake`, and
//! the [`MacOsFutex`] backend built on them.
//!
//! | trait operation | system calls |
//! |---|---|
//! | wait (32-bit) | `__ulock_wait2(UL_COMPARE_AND_WAIT, addr, expected as u64, remaining_ns, 0)`; `__ulock_wait(..., remaining_us)` if wait2 is `ENOSYS` |
//! | wake, n = 1 | `__ulock_wake(UL_COMPARE_AND_WAIT, addr, 0)` |
//! | wake, n > 1 | `__ulock_wake(UL_COMPARE_AND_WAIT \| ULF_WAKE_ALL, addr, 0)` |
//!
//! Facts (XNU `bsd/kern/sys_ulock.c`, `bsd/sys/ulock.h`; reference sheet
//! A.3), and what this backend does about each:
//!
//! * **Zero-extension.** For the 32-bit opcode the kernel zero-extends the
//!   word it reads and compares all 64 bits with `value`: the expected value
//!   is passed as `u64::from(expected)`, never sign-extended.
//! * **Timeouts are relative, 0 means forever.** wait2 takes nanoseconds,
//!   wait takes microseconds (the kernel multiplies by 1000 and calls
//!   wait2). The wait keeps an absolute deadline on the
//!   `mach_absolute_time` clock (see [`super::time`]) and recomputes the
//!   time left before every system call, rounding up, so a finite timeout
//!   is never sent as 0 (which would wait forever) and EINTR never extends
//!   it. A requested zero timeout returns `TimedOut` without a system call.
//! * **No restart with a stale timeout.** An interrupted wait returns
//!   `EINTR` (`wait_result_to_return_code`), never `ERESTART`, so the kernel
//!   never re-runs the `svc` with a relative timeout that has partly elapsed.
//! * **Success does not mean woken.** The kernel returns the number of
//!   remaining waiters both after a wake-up and when the word no longer
//!   matched: both are reported as `Woken`, which the contract allows
//!   (possibly spurious). A mismatch seen before the call is `Mismatch`.
//! * **EFAULT is not fatal.** The kernel reads the word with a spinlock held
//!   and cannot page it in; it returns EFAULT for user space to touch the
//!   page and retry ("let the user level code fault it in"). The wait
//!   reloads the word (faulting it in) and retries, or reports `Mismatch`.
//! * **ETIMEDOUT is checked against our own deadline**, so the microsecond
//!   fallback, whose timeout saturates at `u32::MAX` µs (71 minutes), waits
//!   again instead of returning early.
//! * **Wake counts are upper bounds** ([`FutexLike::wake_count_is_exact`](crate::FutexLike::wake_count_is_exact) is
//!   false). ulock has no "wake n": it wakes one waiter or all of them, and
//!   reports only whether any waiter was registered (`ENOENT` when none,
//!   which is 0 woken). A successful wake-one returns 1, which may be too
//!   many: a waiter the kernel already woke stays registered until it runs.
//!   For n > 1 the wake uses `ULF_WAKE_ALL` and returns n: it wakes every
//!   waiter, possibly more than n (the extra ones see a spurious `Woken`,
//!   which the contract allows), and n is the most any caller can have been
//!   owed. It is not a count of threads.
//! * **wait2 fallback.** `__ulock_wait2` (544) came with macOS 11 (the first
//!   release for Apple silicon, so every arm64 macOS has it; the version is
//!   taken from public comments, not from an xnu tag). On `ENOSYS` the
//!   backend remembers it and uses `__ulock_wait` (515). Caveat: XNU's
//!   `nosys` also posts SIGSYS when its `send_sigsys` switch is on
//!   (`bsd/kern/subr_xxx.c`), whose default action ends the process, so the
//!   fallback only helps a process that survives SIGSYS.
//!
//! `UL_UNFAIR_LOCK` (the `os_unfair_lock` protocol, owner's thread port
//! name in the word) is in [`super::lock`]; not built: the `_SHARED`
//! (cross-process) opcodes.
//!
//! Only the `MacOsFutex` implementation uses the traps; the encoders and
//! decoders below run in the host's unit tests.

use super::abi::xnu;
use super::consts::ulock;
use super::errno as e;
use crate::errno::{Errno, Result};

/// The `timeout` argument of a ulock wait.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WaitTimeout {
    /// Wait until woken.
    Forever,
    /// Wait at most this many nanoseconds (at least 1).
    Ns(u64),
}

impl WaitTimeout {
    /// The `__ulock_wait2` argument: nanoseconds, 0 only for `Forever`.
    pub fn wire_ns(self) -> u64 {
        match self {
            WaitTimeout::Forever => 0,
            WaitTimeout::Ns(ns) => ns.max(1),
        }
    }

    /// The `__ulock_wait` argument: microseconds rounded up, 0 only for
    /// `Forever`, at most `u32::MAX` (a longer wait returns ETIMEDOUT early
    /// and is resumed by the caller's deadline check).
    pub fn wire_us(self) -> u32 {
        match self {
            WaitTimeout::Forever => 0,
            WaitTimeout::Ns(ns) => {
                let us = ns.div_ceil(1000).max(1);
                u32::try_from(us).unwrap_or(u32::MAX)
            }
        }
    }
}

/// The word a wait compares.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Width {
    /// 32-bit word, expected value zero-extended (`UL_COMPARE_AND_WAIT`).
    U32,
    /// 64-bit, 8-byte aligned word (`UL_COMPARE_AND_WAIT64`).
    U64,
}

impl Width {
    /// The wait opcode (waiters and wakers of one address must agree on it,
    /// or the kernel answers `EDOM`).
    pub fn opcode(self) -> u32 {
        match self {
            Width::U32 => ulock::UL_COMPARE_AND_WAIT,
            Width::U64 => ulock::UL_COMPARE_AND_WAIT64,
        }
    }
}

/// The `__ulock_wake` operation for waking up to `n` waiters, or `None`
/// when nothing is to be done (`n == 0`).
pub fn wake_op(width: Width, n: u32) -> Option<u32> {
    match n {
        0 => None,
        1 => Some(width.opcode()),
        _ => Some(width.opcode() | ulock::ULF_WAKE_ALL),
    }
}

/// What a `__ulock_wake` result means for
/// [`FutexLike::wake`](crate::FutexLike::wake)'s count:
/// success is 1 for a wake-one and `n` for a wake-all (upper bounds, see the
/// module docs); `ENOENT` is 0 (nobody waited).
pub fn wake_count(n: u32, r: Result<()>) -> Result<u32> {
    match r {
        Ok(()) => Ok(n),
        Err(err) if err.raw() == e::ENOENT => Ok(0),
        Err(err) => Err(err),
    }
}

/// What to do after a ulock wait returned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Woken, or the word changed in the kernel: report `Woken`.
    Woken,
    /// `ETIMEDOUT` or `EINTR`: recheck the deadline and wait again.
    Again,
    /// `EFAULT`: touch the word, report `Mismatch` if it changed, else retry.
    Refault,
    /// `ENOSYS`: from wait2, switch to `__ulock_wait` and retry; from
    /// `__ulock_wait` itself, give up.
    NoWait2,
    /// Any other error.
    Fail(Errno),
}

/// Classifies a ulock wait's result.
pub fn classify_wait(r: Result<u32>) -> Step {
    match r {
        Ok(_) => Step::Woken,
        Err(err) => match err.raw() {
            e::ETIMEDOUT | e::EINTR => Step::Again,
            e::EFAULT => Step::Refault,
            e::ENOSYS => Step::NoWait2,
            _ => Step::Fail(err),
        },
    }
}

#[cfg(wrt_os = "macos")]
pub use imp::MacOsFutex;

#[cfg(wrt_os = "macos")]
mod imp {
    use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
    use core::time::Duration;

    use super::super::sys;
    use super::super::time::{self, Deadline};
    use super::*;
    use crate::futex::{FutexLike, WaitOutcome};

    /// Whether `__ulock_wait2` answered `ENOSYS` once (then `__ulock_wait`
    /// is used from there on).
    static WAIT2_MISSING: AtomicU8 = AtomicU8::new(0);

    fn ulock_wait_any(op: u32, addr: *const u8, value: u64, t: WaitTimeout) -> Result<u32> {
        if WAIT2_MISSING.load(Ordering::Relaxed) == 0 {
            // SAFETY: `addr` is a live atomic word (callers below).
            let r = unsafe { sys::ulock_wait2(op, addr, value, t.wire_ns(), 0) };
            if classify_wait(r) != Step::NoWait2 {
                return r;
            }
            WAIT2_MISSING.store(1, Ordering::Relaxed);
        }
        // SAFETY: as above.
        unsafe { sys::ulock_wait(op, addr, value, t.wire_us()) }
    }

    /// Waits on the word at `addr` (which `matches` reloads atomically).
    fn wait_on(
        width: Width,
        addr: *const u8,
        value: u64,
        matches: &dyn Fn() -> bool,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome> {
        // A mismatch or a zero timeout needs no system call.
        if !matches() {
            return Ok(WaitOutcome::Mismatch);
        }
        let deadline = match timeout {
            Some(Duration::ZERO) => return Ok(WaitOutcome::TimedOut),
            Some(t) => {
                let tb = time::timebase()?;
                // `None`: too far away to represent, i.e. forever.
                Deadline::after(time::now(), t, tb).map(|d| (d, tb))
            }
            None => None,
        };
        let op = width.opcode();
        loop {
            let left = match deadline {
                None => WaitTimeout::Forever,
                Some((d, tb)) => match d.remaining_ns(time::now(), tb) {
                    None => return Ok(WaitOutcome::TimedOut),
                    Some(ns) => WaitTimeout::Ns(ns),
                },
            };
            match classify_wait(ulock_wait_any(op, addr, value, left)) {
                Step::Woken => return Ok(WaitOutcome::Woken),
                // Same absolute deadline: the loop head decides.
                Step::Again => continue,
                // `ulock_wait_any` already fell back to `__ulock_wait`, so
                // this ENOSYS is from it: no ulock at all.
                Step::NoWait2 => return Err(xnu(e::ENOSYS)),
                Step::Refault => {
                    if !matches() {
                        return Ok(WaitOutcome::Mismatch);
                    }
                }
                Step::Fail(err) => return Err(err),
            }
        }
    }

    fn wake_on(width: Width, addr: *const u8, n: u32) -> Result<u32> {
        let Some(op) = wake_op(width, n) else {
            return Ok(0);
        };
        // SAFETY: ulock_wake only hashes the address.
        wake_count(n, unsafe { sys::ulock_wake(op, addr, 0) })
    }

    /// The macOS [`FutexLike`] (see the [module docs](super)). Wake counts
    /// are upper bounds.
    #[derive(Copy, Clone, Debug, Default)]
    pub struct MacOsFutex;

    impl MacOsFutex {
        /// Like [`FutexLike::wait`] on a 64-bit word
        /// (`UL_COMPARE_AND_WAIT64`). Waiters and wakers of one word must
        /// all use the 64-bit calls.
        pub fn wait64(
            &self,
            word: &AtomicU64,
            expected: u64,
            timeout: Option<Duration>,
        ) -> Result<WaitOutcome> {
            // AtomicU64 is 8-byte aligned, as the 64-bit opcode requires.
            let addr = word.as_ptr() as *const u8;
            let matches = || word.load(Ordering::Acquire) == expected;
            wait_on(Width::U64, addr, expected, &matches, timeout)
        }

        /// Like [`FutexLike::wake`] for waiters in [`wait64`](Self::wait64).
        pub fn wake64(&self, word: &AtomicU64, n: u32) -> Result<u32> {
            wake_on(Width::U64, word.as_ptr() as *const u8, n)
        }
    }

    impl FutexLike for MacOsFutex {
        fn wait(
            &self,
            word: &AtomicU32,
            expected: u32,
            timeout: Option<Duration>,
        ) -> Result<WaitOutcome> {
            let matches = || word.load(Ordering::Acquire) == expected;
            // Zero-extended: the kernel compares all 64 bits.
            let value = u64::from(expected);
            wait_on(
                Width::U32,
                word.as_ptr() as *const u8,
                value,
                &matches,
                timeout,
            )
        }

        fn wake(&self, word: &AtomicU32, n: u32) -> Result<u32> {
            wake_on(Width::U32, word.as_ptr() as *const u8, n)
        }

        fn wake_count_is_exact(&self) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(code: u16) -> Errno {
        xnu(code)
    }

    #[test]
    fn timeouts_in_nanoseconds() {
        assert_eq!(WaitTimeout::Forever.wire_ns(), 0);
        assert_eq!(WaitTimeout::Ns(1).wire_ns(), 1);
        assert_eq!(WaitTimeout::Ns(1_500_000_000).wire_ns(), 1_500_000_000);
        assert_eq!(WaitTimeout::Ns(u64::MAX).wire_ns(), u64::MAX);
        // A finite timeout never becomes "forever", even if built from 0.
        assert_eq!(WaitTimeout::Ns(0).wire_ns(), 1);
    }

    #[test]
    fn timeouts_in_microseconds_round_up() {
        assert_eq!(WaitTimeout::Forever.wire_us(), 0);
        assert_eq!(WaitTimeout::Ns(0).wire_us(), 1);
        assert_eq!(WaitTimeout::Ns(1).wire_us(), 1);
        assert_eq!(WaitTimeout::Ns(999).wire_us(), 1);
        assert_eq!(WaitTimeout::Ns(1000).wire_us(), 1);
        assert_eq!(WaitTimeout::Ns(1001).wire_us(), 2);
        assert_eq!(WaitTimeout::Ns(50_000_000).wire_us(), 50_000);
        // Saturates at u32::MAX µs (the caller's deadline resumes the wait).
        assert_eq!(
            WaitTimeout::Ns(u64::from(u32::MAX) * 1000).wire_us(),
            u32::MAX
        );
        assert_eq!(WaitTimeout::Ns(u64::MAX).wire_us(), u32::MAX);
    }

    #[test]
    fn operation_encoding() {
        assert_eq!(Width::U32.opcode(), 1);
        assert_eq!(Width::U64.opcode(), 5);
        assert_eq!(wake_op(Width::U32, 0), None);
        assert_eq!(wake_op(Width::U32, 1), Some(1));
        assert_eq!(wake_op(Width::U32, 2), Some(0x101));
        assert_eq!(wake_op(Width::U32, u32::MAX), Some(0x101));
        assert_eq!(wake_op(Width::U64, 1), Some(5));
        assert_eq!(wake_op(Width::U64, 7), Some(0x105));
        // Never the unfair-lock opcode (WRT's bug), never ULF_NO_ERRNO.
        for n in [1, 2, u32::MAX] {
            let op = wake_op(Width::U32, n).unwrap();
            assert_ne!(op & ulock::UL_OPCODE_MASK, ulock::UL_UNFAIR_LOCK);
            assert_eq!(op & ulock::ULF_NO_ERRNO, 0);
        }
    }

    #[test]
    fn wake_results() {
        assert_eq!(wake_count(1, Ok(())), Ok(1));
        assert_eq!(wake_count(9, Ok(())), Ok(9));
        assert_eq!(wake_count(1, Err(err(e::ENOENT))), Ok(0));
        assert_eq!(wake_count(u32::MAX, Err(err(e::ENOENT))), Ok(0));
        assert_eq!(wake_count(1, Err(err(e::EDOM))), Err(err(e::EDOM)));
        assert_eq!(wake_count(1, Err(err(e::EINVAL))), Err(err(e::EINVAL)));
    }

    #[test]
    fn wait_results() {
        assert_eq!(classify_wait(Ok(0)), Step::Woken);
        assert_eq!(classify_wait(Ok(3)), Step::Woken);
        assert_eq!(classify_wait(Err(err(e::ETIMEDOUT))), Step::Again);
        assert_eq!(classify_wait(Err(err(e::EINTR))), Step::Again);
        assert_eq!(classify_wait(Err(err(e::EFAULT))), Step::Refault);
        assert_eq!(classify_wait(Err(err(e::ENOSYS))), Step::NoWait2);
        assert_eq!(classify_wait(Err(err(e::EDOM))), Step::Fail(err(e::EDOM)));
        assert_eq!(
            classify_wait(Err(err(e::EINVAL))),
            Step::Fail(err(e::EINVAL))
        );
    }
}
