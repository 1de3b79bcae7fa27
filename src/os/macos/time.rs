//! The monotonic clock: `mach_absolute_time` ticks and absolute deadlines.
//!
//! # Which clock, and why
//!
//! Timed waits need a monotonic clock so that a deadline fixed at the call
//! survives EINTR. Three ways to read one without libSystem:
//!
//! * `CNTVCT_EL0` directly: libSystem's `mach_absolute_time` does that, but
//!   only after checking the commpage's `_COMM_PAGE_USER_TIMEBASE` (the
//!   kernel can withhold EL0 counter access) and subtracting the commpage's
//!   timebase offset; both are private layout.
//! * The commpage's time fields: private layout again.
//! * The `MACH_ARM_TRAP_ABSTIME` fast trap (`x16 = -3`), which `handle_svc`
//!   answers before any other dispatch with `x0 = mach_absolute_time()`
//!   (XNU `osfmk/arm64/sleh.c` `handle_mach_absolute_time_trap`).
//!
//! This backend uses the trap: it is the kernel's own clock, exactly the one
//! `__ulock_wait2` measures its timeout against (`nanoseconds_to_deadline`
//! in `bsd/kern/sys_ulock.c`), it needs no private layout, and it costs one
//! kernel entry per timed wait (the Linux backend likewise reads
//! `clock_gettime` by system call, not through the vDSO). Ticks become
//! nanoseconds with the ratio from `mach_timebase_info_trap` (`x16 = -89`),
//! read once and cached (it is fixed at boot: 125/3 on Apple M1, i.e. a
//! 24 MHz counter; 1/1 on some later parts; never assumed here).
//!
//! Everything below except [`now`] and [`timebase`] is pure arithmetic and
//! runs in the host's unit tests.

use core::time::Duration;

use super::abi::xnu;
use super::errno as e;
use crate::errno::Result;

/// The tick-to-nanosecond ratio: `ns = ticks * numer / denom`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Timebase {
    /// Numerator.
    pub numer: u32,
    /// Denominator.
    pub denom: u32,
}

impl Timebase {
    /// Checks a ratio read from the kernel: both parts must be non-zero
    /// (`EIO` otherwise, as no kernel reports that).
    pub fn new(numer: u32, denom: u32) -> Result<Self> {
        if numer == 0 || denom == 0 {
            return Err(xnu(e::EIO));
        }
        Ok(Self { numer, denom })
    }

    /// Nanoseconds in `ticks`, rounded up, saturating at `u64::MAX`.
    pub fn ticks_to_ns_ceil(self, ticks: u64) -> u64 {
        let n = u128::from(ticks) * u128::from(self.numer);
        div_ceil_u32(n, self.denom).unwrap_or(u64::MAX)
    }

    /// Ticks in `ns` nanoseconds, rounded up (so a deadline is never
    /// earlier than asked), or `None` when they do not fit in `u64`.
    pub fn ns_to_ticks_ceil(self, ns: u128) -> Option<u64> {
        let t = ns.checked_mul(u128::from(self.denom))?;
        div_ceil_u32(t, self.numer)
    }
}

/// `ceil(n / d)` for a non-zero 32-bit `d`, or `None` when it does not fit
/// in `u64`: long division in 32-bit digits with 64-bit divisions only. A
/// `u128` division would call compiler-rt's `__udivti3`, whose member in
/// the macOS `compiler_builtins` carries an unwind entry naming
/// `rust_eh_personality`, which a C program linking `libwrt_helper.a` does
/// not define (`scripts/check-macos` links one).
fn div_ceil_u32(n: u128, d: u32) -> Option<u64> {
    let d = u64::from(d);
    let (hi, lo) = ((n >> 64) as u64, n as u64);
    if hi >= d {
        return None; // the quotient needs more than 64 bits
    }
    // Each step divides a value below d * 2^32 (< 2^64): hi < d, r1 < d.
    let x1 = (hi << 32) | (lo >> 32);
    let (q1, r1) = (x1 / d, x1 % d);
    let x0 = (r1 << 32) | (lo & 0xffff_ffff);
    let (q0, r0) = (x0 / d, x0 % d);
    ((q1 << 32) | q0).checked_add(u64::from(r0 != 0))
}

/// An absolute point on the `mach_absolute_time` clock.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    /// The tick count at which it passes.
    pub ticks: u64,
}

impl Deadline {
    /// `now + timeout`, or `None` when the sum does not fit (a deadline too
    /// far away to represent: callers treat it as "never").
    pub fn after(now: u64, timeout: Duration, tb: Timebase) -> Option<Self> {
        let ticks = tb.ns_to_ticks_ceil(timeout.as_nanos())?;
        now.checked_add(ticks).map(|ticks| Deadline { ticks })
    }

    /// Nanoseconds left at `now`, rounded up so never 0 while time remains,
    /// or `None` once the deadline has passed (`now >= ticks`).
    pub fn remaining_ns(self, now: u64, tb: Timebase) -> Option<u64> {
        match self.ticks.checked_sub(now) {
            None | Some(0) => None,
            // ceil(ticks * numer / denom) >= 1 for ticks >= 1.
            Some(left) => Some(tb.ticks_to_ns_ceil(left)),
        }
    }

    /// Whether the deadline has passed at `now`.
    pub fn passed(self, now: u64) -> bool {
        now >= self.ticks
    }
}

#[cfg(wrt_os = "macos")]
mod clock {
    use core::sync::atomic::{AtomicU64, Ordering};

    use super::super::sys;
    use super::Timebase;
    use crate::errno::Result;

    /// `numer << 32 | denom`, or 0 before the first read.
    static TIMEBASE: AtomicU64 = AtomicU64::new(0);

    /// The timebase, read once with `mach_timebase_info_trap`.
    pub fn timebase() -> Result<Timebase> {
        let cached = TIMEBASE.load(Ordering::Relaxed);
        if cached != 0 {
            return Ok(Timebase {
                numer: (cached >> 32) as u32,
                denom: cached as u32,
            });
        }
        let mut info = [0u32; 2];
        // SAFETY: `info` is a live, writable [u32; 2].
        unsafe { sys::mach_timebase_info(&mut info) }?;
        let tb = Timebase::new(info[0], info[1])?;
        TIMEBASE.store(
            (u64::from(tb.numer) << 32) | u64::from(tb.denom),
            Ordering::Relaxed,
        );
        Ok(tb)
    }

    /// The current tick count (`mach_absolute_time`).
    pub fn now() -> u64 {
        sys::mach_absolute_time()
    }
}

#[cfg(wrt_os = "macos")]
pub use clock::{now, timebase};

#[cfg(test)]
mod tests {
    use super::*;

    const M1: Timebase = Timebase {
        numer: 125,
        denom: 3,
    };
    const UNIT: Timebase = Timebase { numer: 1, denom: 1 };

    #[test]
    fn timebase_rejects_zero() {
        assert!(Timebase::new(0, 1).is_err());
        assert!(Timebase::new(1, 0).is_err());
        assert_eq!(Timebase::new(125, 3), Ok(M1));
    }

    #[test]
    fn conversions_round_up() {
        // 24 MHz: one tick is 41.67 ns.
        assert_eq!(M1.ticks_to_ns_ceil(1), 42);
        assert_eq!(M1.ticks_to_ns_ceil(3), 125);
        assert_eq!(M1.ticks_to_ns_ceil(0), 0);
        assert_eq!(M1.ns_to_ticks_ceil(1), Some(1));
        assert_eq!(M1.ns_to_ticks_ceil(125), Some(3));
        assert_eq!(M1.ns_to_ticks_ceil(126), Some(4));
        assert_eq!(UNIT.ns_to_ticks_ceil(7), Some(7));
        // Saturation and overflow.
        assert_eq!(M1.ticks_to_ns_ceil(u64::MAX), u64::MAX);
        assert_eq!(UNIT.ns_to_ticks_ceil(u128::from(u64::MAX) + 1), None);
        // The long division against u128's own, around the 32- and
        // 64-bit digit boundaries.
        for n in [
            0u128,
            1,
            41,
            1 << 32,
            (1 << 64) - 1,
            1 << 64,
            (1 << 96) + 12345,
            u128::MAX,
        ] {
            for d in [1u32, 3, 125, 0xffff_ffff] {
                let want = u64::try_from(n.div_ceil(u128::from(d))).ok();
                assert_eq!(div_ceil_u32(n, d), want, "{n} / {d}");
            }
        }
    }

    #[test]
    fn deadlines_never_undershoot() {
        let d = Deadline::after(1000, Duration::from_nanos(1), M1).unwrap();
        assert_eq!(d.ticks, 1001);
        // Whatever the rounding, the time left at the start covers the ask.
        for ns in [1u64, 41, 42, 43, 1000, 999_999, 1_000_000_007] {
            let d = Deadline::after(5, Duration::from_nanos(ns), M1).unwrap();
            assert!(d.remaining_ns(5, M1).unwrap() >= ns, "{ns} ns");
        }
        assert!(Deadline::after(u64::MAX, Duration::from_nanos(1), UNIT).is_none());
        assert!(Deadline::after(0, Duration::MAX, M1).is_none());
    }

    #[test]
    fn remaining_time_is_never_zero_while_time_remains() {
        let d = Deadline { ticks: 100 };
        assert_eq!(d.remaining_ns(99, M1), Some(42));
        assert_eq!(d.remaining_ns(100, M1), None);
        assert_eq!(d.remaining_ns(150, M1), None);
        assert!(d.passed(100) && !d.passed(99));
        // Even a 1/1000 ratio (ticks much shorter than a nanosecond) gives
        // at least 1 ns for one tick left.
        let fine = Timebase {
            numer: 1,
            denom: 1000,
        };
        assert_eq!(d.remaining_ns(99, fine), Some(1));
    }
}
