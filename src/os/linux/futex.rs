//! Linux futexes: `FUTEX_WAIT_BITSET` with an absolute `CLOCK_MONOTONIC`
//! deadline, `FUTEX_WAKE`, both with `FUTEX_PRIVATE_FLAG`, and the
//! [`LinuxFutex`] backend built on them.
//!
//! Why WAIT_BITSET and not WAIT: plain `FUTEX_WAIT` takes a *relative*
//! timeout, so a wait restarted after EINTR would wait the whole timeout
//! again. With an absolute deadline on the monotonic clock, restarting after
//! EINTR never extends the timeout. `FUTEX_BITSET_MATCH_ANY` makes the
//! bitset behave as a plain wait, so `FUTEX_WAKE` reaches it.

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use linux_raw_sys::general::{
    FUTEX_BITSET_MATCH_ANY, FUTEX_PRIVATE_FLAG, FUTEX_WAIT_BITSET, FUTEX_WAKE, FUTEX2_PRIVATE,
    FUTEX2_SIZE_U32,
};

use super::syscall::{ret, ret_unit};
use super::time::{self, Timespec};
use crate::errno::{Errno, Result};
use crate::futex::{FutexLike, WaitOutcome};

/// `futex(uaddr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, deadline,
/// NULL, FUTEX_BITSET_MATCH_ANY)`: sleeps while `*uaddr == expected`, until
/// woken or until the absolute `CLOCK_MONOTONIC` `deadline` (`None`: no
/// deadline).
///
/// Returns `Ok(())` when woken (possibly spuriously), `Err(AGAIN)` on a
/// value mismatch, `Err(TIMEDOUT)`, `Err(INTR)`, or the kernel's error for
/// a bad address (`FAULT`), misalignment or a bad deadline (`INVAL`).
///
/// # Safety
/// The kernel reads `*uaddr` atomically. If `uaddr` points to memory of this
/// process, every other access to it must be atomic.
pub unsafe fn futex_wait_bitset(
    uaddr: *const u32,
    expected: u32,
    deadline: Option<&Timespec>,
) -> Result<()> {
    let ts = deadline.map_or(0, |t| t as *const Timespec as usize);
    // SAFETY: the kernel reads `*uaddr` (validating it) and `*deadline`,
    // which lives across the call; it writes nothing.
    ret_unit(unsafe {
        syscall!(
            __NR_futex,
            uaddr as usize,
            (FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG) as usize,
            expected as usize,
            ts,
            0,
            FUTEX_BITSET_MATCH_ANY as usize
        )
    })
}

/// `futex(uaddr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n)`: wakes up to `n`
/// waiters (values above `i32::MAX` are clamped; the kernel takes an `int`)
/// and returns the exact number woken.
///
/// # Safety
/// As for [`futex_wait_bitset`].
pub unsafe fn futex_wake(uaddr: *const u32, n: u32) -> Result<u32> {
    let n = n.min(i32::MAX as u32);
    // SAFETY: FUTEX_WAKE only hashes the address; it reads no memory.
    let woken = ret(unsafe {
        syscall!(
            __NR_futex,
            uaddr as usize,
            (FUTEX_WAKE | FUTEX_PRIVATE_FLAG) as usize,
            n as usize
        )
    })?;
    Ok(woken as u32)
}

/// futex2 `futex_wake(uaddr, mask, nr, FUTEX2_SIZE_U32 | FUTEX2_PRIVATE)`
/// (Linux 6.7). Used by the capability probe: `Err(NOSYS)` means the kernel
/// (or emulator) lacks futex2.
///
/// # Safety
/// As for [`futex_wait_bitset`].
pub unsafe fn futex2_wake(uaddr: *const u32, mask: u32, nr: u32) -> Result<u32> {
    let nr = nr.min(i32::MAX as u32);
    // SAFETY: futex_wake only hashes the address; it reads no memory.
    let woken = ret(unsafe {
        syscall!(
            __NR_futex_wake,
            uaddr as usize,
            mask as usize,
            nr as usize,
            (FUTEX2_SIZE_U32 | FUTEX2_PRIVATE) as usize
        )
    })?;
    Ok(woken as u32)
}

/// The Linux [`FutexLike`] (see the [module docs](self)). Wake counts are
/// exact.
#[derive(Copy, Clone, Debug, Default)]
pub struct LinuxFutex;

impl FutexLike for LinuxFutex {
    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome> {
        // A mismatch or a zero timeout needs no system call.
        if word.load(Ordering::Acquire) != expected {
            return Ok(WaitOutcome::Mismatch);
        }
        let deadline = match timeout {
            Some(Duration::ZERO) => return Ok(WaitOutcome::TimedOut),
            Some(t) => time::deadline(time::monotonic_timespec()?, t),
            None => None,
        };
        loop {
            // SAFETY: `word` is a live AtomicU32, so every access is atomic.
            match unsafe { futex_wait_bitset(word.as_ptr(), expected, deadline.as_ref()) } {
                Ok(()) => return Ok(WaitOutcome::Woken),
                Err(Errno::AGAIN) => return Ok(WaitOutcome::Mismatch),
                Err(Errno::TIMEDOUT) => return Ok(WaitOutcome::TimedOut),
                // Same absolute deadline: a signal never extends the wait.
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    fn wake(&self, word: &AtomicU32, n: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        // SAFETY: `word` is a live AtomicU32.
        unsafe { futex_wake(word.as_ptr(), n) }
    }

    fn wake_count_is_exact(&self) -> bool {
        true
    }
}
