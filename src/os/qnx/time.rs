//! The monotonic clock (`ClockTime(CLOCK_MONOTONIC)`) and absolute deadlines
//! for `TimerTimeout(..., TIMER_ABSTIME | ...)`.
//!
//! QNX kernel time is a single `u64` of nanoseconds (`ClockTime` and
//! `TimerTimeout` both take `uint64_t *`), so a deadline is `now + timeout`
//! in nanoseconds, fixed once per wait: a wait restarted after `EINTR` arms
//! the same absolute deadline again and never waits longer.
//!
//! Constants: SDP 7.1 `time.h` (Spitzbube/qnx-sdp 8d745006, Rev 872578).

use core::time::Duration;

/// `CLOCK_MONOTONIC`.
pub const CLOCK_MONOTONIC: i32 = 2;
/// `TIMER_ABSTIME`: the time given to `TimerTimeout` is absolute.
pub const TIMER_ABSTIME: u32 = 0x8000_0000;

/// `now_ns + timeout` in nanoseconds, or `None` when it does not fit in a
/// `u64` (about 584 years of uptime): such a deadline means "never".
pub fn deadline_ns(now_ns: u64, timeout: Duration) -> Option<u64> {
    let timeout_ns = u64::try_from(timeout.as_nanos()).ok()?;
    now_ns.checked_add(timeout_ns)
}

/// The monotonic clock in nanoseconds since an arbitrary origin (boot).
#[cfg(wrt_os = "qnx")]
pub fn monotonic_ns() -> crate::errno::Result<u64> {
    super::kercall::clock_time(CLOCK_MONOTONIC)
}

/// The monotonic clock as a `Duration` since an arbitrary origin (boot).
#[cfg(wrt_os = "qnx")]
pub fn monotonic() -> crate::errno::Result<Duration> {
    monotonic_ns().map(Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constants_match_time_h() {
        assert_eq!(CLOCK_MONOTONIC, 2);
        assert_eq!(TIMER_ABSTIME, 1 << 31);
    }

    #[test]
    fn deadline_arithmetic() {
        assert_eq!(
            deadline_ns(5_999_999_999, Duration::new(1, 2)),
            Some(7_000_000_001)
        );
        assert_eq!(deadline_ns(0, Duration::from_nanos(1)), Some(1));
        assert_eq!(
            deadline_ns(u64::MAX - 1, Duration::from_nanos(1)),
            Some(u64::MAX)
        );
        // Overflow of the sum or of the timeout itself: wait forever.
        assert_eq!(deadline_ns(u64::MAX, Duration::from_nanos(1)), None);
        assert_eq!(deadline_ns(0, Duration::MAX), None);
        assert_eq!(
            deadline_ns(0, Duration::from_nanos(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(deadline_ns(1, Duration::from_nanos(u64::MAX)), None);
    }
}
