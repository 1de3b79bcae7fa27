//! The monotonic clock (`clock_gettime(CLOCK_MONOTONIC)`) and deadlines.
//!
//! The clock is read with the system call, not the vDSO: one call per timed
//! wait, never on an untimed path.

use core::mem::MaybeUninit;
use core::time::Duration;

use linux_raw_sys::general::{__kernel_timespec, CLOCK_MONOTONIC};

use super::syscall::ret_unit;
use crate::errno::Result;

/// The kernel's 64-bit `struct timespec` (the layout futex and
/// clock_gettime use on x86_64 and aarch64).
pub type Timespec = __kernel_timespec;

/// `clock_gettime(CLOCK_MONOTONIC)`.
pub fn monotonic_timespec() -> Result<Timespec> {
    let mut ts = MaybeUninit::<Timespec>::uninit();
    // SAFETY: the kernel writes one `struct __kernel_timespec` to `ts`.
    ret_unit(unsafe {
        syscall!(
            __NR_clock_gettime,
            CLOCK_MONOTONIC as usize,
            ts.as_mut_ptr() as usize
        )
    })?;
    // SAFETY: initialised by the successful call above.
    Ok(unsafe { ts.assume_init() })
}

/// The monotonic clock as a `Duration` since an arbitrary origin (boot).
pub fn monotonic() -> Result<Duration> {
    let ts = monotonic_timespec()?;
    // Monotonic time is never negative and tv_nsec < 1e9.
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// `now + timeout` as an absolute `Timespec`, or `None` when the sum does
/// not fit (such a deadline is treated as "never").
pub fn deadline(now: Timespec, timeout: Duration) -> Option<Timespec> {
    let secs = i64::try_from(timeout.as_secs()).ok()?;
    let mut tv_sec = now.tv_sec.checked_add(secs)?;
    let mut tv_nsec = now.tv_nsec + i64::from(timeout.subsec_nanos());
    if tv_nsec >= 1_000_000_000 {
        tv_nsec -= 1_000_000_000;
        tv_sec = tv_sec.checked_add(1)?;
    }
    Some(Timespec { tv_sec, tv_nsec })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_arithmetic() {
        let now = Timespec {
            tv_sec: 5,
            tv_nsec: 999_999_999,
        };
        let d = deadline(now, Duration::new(1, 2)).unwrap();
        assert_eq!((d.tv_sec, d.tv_nsec), (7, 1));
        assert!(deadline(now, Duration::MAX).is_none());
        let edge = Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 999_999_999,
        };
        assert!(deadline(edge, Duration::from_nanos(1)).is_none());
    }

    #[test]
    fn monotonic_does_not_go_back() {
        let a = monotonic().unwrap();
        let b = monotonic().unwrap();
        assert!(b >= a);
    }
}
