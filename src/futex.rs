//! The futex trait: wait on a 32-bit word, wake waiters.
//!
//! # Contract (every backend)
//! * [`FutexLike::wait`] atomically checks that `word` holds `expected` and,
//!   if so, sleeps until woken or until the timeout passes. It returns
//!   [`WaitOutcome::Mismatch`] at once when the value differs,
//!   [`WaitOutcome::TimedOut`] when the timeout passed, and
//!   [`WaitOutcome::Woken`] otherwise. `Woken` may be spurious (as with every
//!   futex): callers re-check their condition. The Wasm layer, which must
//!   not return spurious wake-ups, builds its exact queue on top.
//! * A timeout of `None` waits forever; `Some(Duration::ZERO)` never sleeps
//!   (the result is `Mismatch` or `TimedOut`). Timeouts run on a monotonic
//!   clock, as an absolute deadline fixed when `wait` is called: a signal
//!   (EINTR) never extends it. A timeout too large to represent waits forever.
//! * [`FutexLike::wake`] wakes up to `n` waiters on `word` and returns how
//!   many it woke. Where the OS cannot count, the backend returns an upper
//!   bound and [`FutexLike::wake_count_is_exact`] says so.
//! * Waiters and wakers must agree on the word's address; the word is never
//!   written by the backend.

use core::sync::atomic::AtomicU32;
use core::time::Duration;

use crate::errno::Result;

/// How a [`FutexLike::wait`] ended.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum WaitOutcome {
    /// Woken by a `wake` (or spuriously: re-check the condition).
    Woken,
    /// The word did not hold the expected value; no sleep happened.
    Mismatch,
    /// The timeout passed.
    TimedOut,
}

/// Wait on a 32-bit word and wake waiters (see the [module docs](self)).
pub trait FutexLike {
    /// Sleeps while `word == expected`, for at most `timeout`.
    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome>;

    /// Wakes up to `n` waiters on `word`; returns how many were woken.
    fn wake(&self, word: &AtomicU32, n: u32) -> Result<u32>;

    /// Whether [`wake`](Self::wake) returns the exact number woken (true) or
    /// an upper bound (false).
    fn wake_count_is_exact(&self) -> bool;
}
