//! The backend conformance suite: the contracts of [`PageAllocator`] and
//! [`FutexLike`], written once and run against every backend that can
//! execute (natively, under qemu-user, under qemu-system).
//!
//! The checks are `no_std`: what needs an OS service (threads, a clock,
//! observing a memory fault in isolation) comes from a [`Harness`]. Test
//! crates expand [`conformance_tests!`](crate::conformance_tests) into one
//! `#[test]` per check; the probe walks [`PAGE_CHECKS`] and [`FUTEX_CHECKS`].

// `Failure` carries its message inline (no allocator on bare metal); checks
// are not hot paths, so its size does not matter.
#![allow(clippy::result_large_err)]

use core::fmt::{self, Write as _};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

use crate::errno::Errno;
use crate::futex::{FutexLike, WaitOutcome};
use crate::page::{PageAllocator, Protection, Reservation, ReserveOptions};

/// The OS services a check needs beyond the traits under test.
pub trait Harness: Sync {
    /// Runs `f(0)`, ..., `f(n - 1)` concurrently (each on its own thread or
    /// core) and returns when all have returned.
    fn concurrently(&self, n: usize, f: &(dyn Fn(usize) + Sync));
    /// Runs `f` in isolation (a child process) and reports whether it died
    /// of a memory-access fault (`Some(true)`) or returned (`Some(false)`);
    /// `None` when this harness cannot isolate (the check is skipped).
    fn faults(&self, f: &dyn Fn()) -> Option<bool>;
    /// A monotonic clock.
    fn now(&self) -> Duration;
    /// Sleeps for at least `d`.
    fn sleep(&self, d: Duration);
}

/// A check that held, or was skipped for a stated reason.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The contract held.
    Passed,
    /// The harness lacks what the check needs.
    Skipped(&'static str),
}

/// A broken contract, with a message (truncated to 240 bytes).
#[derive(Clone)]
pub struct Failure {
    buf: [u8; 240],
    len: usize,
}

impl Failure {
    /// Formats a failure message.
    pub fn new(args: fmt::Arguments<'_>) -> Self {
        let mut f = Failure {
            buf: [0; 240],
            len: 0,
        };
        // Writing into the fixed buffer never fails; it truncates.
        let _ = f.write_fmt(args);
        f
    }

    /// The message.
    pub fn message(&self) -> &str {
        // Truncation happens on a char boundary (see write_str).
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("<invalid utf-8>")
    }
}

impl fmt::Write for Failure {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for c in s.chars() {
            let mut tmp = [0u8; 4];
            let bytes = c.encode_utf8(&mut tmp).as_bytes();
            if self.len + bytes.len() > self.buf.len() {
                break;
            }
            self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
            self.len += bytes.len();
        }
        Ok(())
    }
}

impl fmt::Debug for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// The result of one check.
pub type Outcome = Result<Verdict, Failure>;

/// A page-allocator check.
pub type PageCheck = fn(&dyn PageAllocator, &dyn Harness) -> Outcome;
/// A futex check.
pub type FutexCheck = fn(&(dyn FutexLike + Sync), &dyn Harness) -> Outcome;

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(Failure::new(format_args!($($fmt)+)));
        }
    };
}

macro_rules! ensure_eq {
    ($left:expr, $right:expr, $what:literal) => {{
        let (l, r) = (&$left, &$right);
        if l != r {
            return Err(Failure::new(format_args!(
                "{}: got {:?}, expected {:?}",
                $what, l, r
            )));
        }
    }};
}

/// Turns an unexpected `Errno` into a failure naming the step.
fn step<T>(r: Result<T, Errno>, what: &'static str) -> Result<T, Failure> {
    r.map_err(|e| Failure::new(format_args!("{what} failed: {e}")))
}

/// Every page-allocator check, by name.
pub const PAGE_CHECKS: &[(&str, PageCheck)] = &[
    ("page_size_is_sane", page::page_size_is_sane),
    ("reserve_rounds_and_aligns", page::reserve_rounds_and_aligns),
    ("reserve_rejects_bad_sizes", page::reserve_rejects_bad_sizes),
    (
        "committed_pages_read_zero_and_keep_writes",
        page::committed_pages_read_zero_and_keep_writes,
    ),
    (
        "bad_ranges_are_rejected_and_change_nothing",
        page::bad_ranges_are_rejected_and_change_nothing,
    ),
    (
        "decommitted_pages_read_zero_and_stay_usable",
        page::decommitted_pages_read_zero_and_stay_usable,
    ),
    ("reserved_pages_fault", page::reserved_pages_fault),
    (
        "read_only_pages_fault_on_write",
        page::read_only_pages_fault_on_write,
    ),
    (
        "pages_protected_none_fault",
        page::pages_protected_none_fault,
    ),
    ("guard_regions_fault", page::guard_regions_fault),
    ("released_pages_fault", page::released_pages_fault),
];

/// Every futex check, by name.
pub const FUTEX_CHECKS: &[(&str, FutexCheck)] = &[
    ("mismatch_returns_at_once", futex::mismatch_returns_at_once),
    ("zero_timeout_times_out", futex::zero_timeout_times_out),
    (
        "timeout_expires_within_bound",
        futex::timeout_expires_within_bound,
    ),
    (
        "wake_without_waiters_is_zero",
        futex::wake_without_waiters_is_zero,
    ),
    (
        "wake_wakes_a_timed_waiter",
        futex::wake_wakes_a_timed_waiter,
    ),
    ("wake_counts_are_exact", futex::wake_counts_are_exact),
    (
        "ping_pong_loses_no_wakeups",
        futex::ping_pong_loses_no_wakeups,
    ),
];

/// Expands to one `#[test]` per conformance check, plus a test that the
/// expansion covers [`PAGE_CHECKS`] and [`FUTEX_CHECKS`].
///
/// ```no_run
/// use wrt_platform::conformance::StdHarness;
/// use wrt_platform::os::linux::{LinuxFutex, LinuxPages};
///
/// // A real test harness also isolates faults (see tests/conformance.rs);
/// // with `StdHarness` the fault checks would fail as skipped.
/// wrt_platform::conformance_tests!(
///     pages: LinuxPages::new().unwrap(),
///     futex: LinuxFutex,
///     harness: StdHarness::default()
/// );
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! conformance_tests {
    (pages: $pages:expr, futex: $futex:expr, harness: $harness:expr) => {
        $crate::conformance_tests!(@emit ($pages, $futex, $harness)
            page: [
                page_size_is_sane,
                reserve_rounds_and_aligns,
                reserve_rejects_bad_sizes,
                committed_pages_read_zero_and_keep_writes,
                bad_ranges_are_rejected_and_change_nothing,
                decommitted_pages_read_zero_and_stay_usable,
                reserved_pages_fault,
                read_only_pages_fault_on_write,
                pages_protected_none_fault,
                guard_regions_fault,
                released_pages_fault,
            ]
            futex: [
                mismatch_returns_at_once,
                zero_timeout_times_out,
                timeout_expires_within_bound,
                wake_without_waiters_is_zero,
                wake_wakes_a_timed_waiter,
                wake_counts_are_exact,
                ping_pong_loses_no_wakeups,
            ]
        );
    };
    (@emit ($pages:expr, $futex:expr, $harness:expr)
        page: [$($p:ident,)*] futex: [$($f:ident,)*]) => {
        mod conformance_page {
            use super::*;
            $(
                #[test]
                fn $p() {
                    let verdict = $crate::conformance::page::$p(&$pages, &$harness);
                    $crate::conformance::expect_passed(stringify!($p), verdict);
                }
            )*
        }
        mod conformance_futex {
            use super::*;
            $(
                #[test]
                fn $f() {
                    let verdict = $crate::conformance::futex::$f(&$futex, &$harness);
                    $crate::conformance::expect_passed(stringify!($f), verdict);
                }
            )*
        }
        #[test]
        fn conformance_expansion_covers_every_check() {
            let page: &[&str] = &[$(stringify!($p)),*];
            let futex: &[&str] = &[$(stringify!($f)),*];
            let listed_page: std::vec::Vec<&str> =
                $crate::conformance::PAGE_CHECKS.iter().map(|c| c.0).collect();
            let listed_futex: std::vec::Vec<&str> =
                $crate::conformance::FUTEX_CHECKS.iter().map(|c| c.0).collect();
            assert_eq!(page, &listed_page[..]);
            assert_eq!(futex, &listed_futex[..]);
        }
    };
}

/// Panics unless `outcome` is [`Verdict::Passed`]: in a test crate a
/// skipped check is a harness that lacks a service, not a pass.
#[doc(hidden)]
pub fn expect_passed(name: &str, outcome: Outcome) {
    match outcome {
        Ok(Verdict::Passed) => {}
        Ok(Verdict::Skipped(why)) => {
            panic!("{name}: skipped ({why}); the test harness must provide it")
        }
        Err(e) => panic!("{name}: {e}"),
    }
}

/// Reads a byte through a volatile load (so the access really happens).
fn peek(p: *const u8) -> u8 {
    // SAFETY: callers pass addresses inside a committed, readable range, or
    // run this inside `Harness::faults`, where a fault is the expected
    // outcome and ends the child process.
    unsafe { p.read_volatile() }
}

/// Writes a byte through a volatile store.
fn poke(p: *mut u8, v: u8) {
    // SAFETY: as for `peek`, with a writable range.
    unsafe { p.write_volatile(v) }
}

/// A reservation under test. The checks never create references into it:
/// every access goes through [`peek`]/[`poke`] on raw pointers, which is
/// what makes the allocator's unsafe methods sound to call here.
struct Pages<'a> {
    a: &'a dyn PageAllocator,
    r: Reservation,
}

impl<'a> Pages<'a> {
    /// Reserves `pages` usable pages with one guard page on each side.
    fn reserve(a: &'a dyn PageAllocator, pages: usize) -> Result<Self, Failure> {
        let pg = a.page_size();
        let opts = ReserveOptions::new(pages * pg)
            .guard_before(pg)
            .guard_after(pg);
        Ok(Pages {
            a,
            r: step(a.reserve(&opts), "reserve")?,
        })
    }

    /// The address `offset` bytes from the base (no access is made).
    fn at(&self, offset: usize) -> *mut u8 {
        self.r.base().as_ptr().wrapping_add(offset)
    }

    fn commit(&self, offset: usize, len: usize) -> Result<(), Errno> {
        // SAFETY: no references into the reservation exist (type docs).
        unsafe { self.a.commit(&self.r, offset, len) }
    }

    fn protect(&self, offset: usize, len: usize, prot: Protection) -> Result<(), Errno> {
        // SAFETY: no references into the reservation exist (type docs).
        unsafe { self.a.protect(&self.r, offset, len, prot) }
    }

    fn decommit(&self, offset: usize, len: usize) -> Result<(), Errno> {
        // SAFETY: no references into the reservation exist (type docs).
        unsafe { self.a.decommit(&self.r, offset, len) }
    }

    /// Releases the reservation; its pointers must not be used afterwards
    /// outside `Harness::faults`.
    fn release(self) -> Result<(), Failure> {
        // SAFETY: no references into the reservation exist (type docs).
        step(unsafe { self.a.release(self.r) }, "release")
    }
}

/// Page-allocator checks.
pub mod page {
    use super::*;

    /// The page size is a power of two, at least 4096.
    pub fn page_size_is_sane(a: &dyn PageAllocator, _h: &dyn Harness) -> Outcome {
        let pg = a.page_size();
        ensure!(
            pg.is_power_of_two() && pg >= 4096,
            "page size {pg} is not a power of two >= 4096"
        );
        Ok(Verdict::Passed)
    }

    /// Sizes round up to whole pages and the base is page-aligned.
    pub fn reserve_rounds_and_aligns(a: &dyn PageAllocator, _h: &dyn Harness) -> Outcome {
        let pg = a.page_size();
        let opts = ReserveOptions::new(3 * pg + 1)
            .guard_before(1)
            .guard_after(pg + 1);
        let p = Pages {
            a,
            r: step(a.reserve(&opts), "reserve")?,
        };
        let r = &p.r;
        let (len, before, after, total) =
            (r.len(), r.guard_before(), r.guard_after(), r.mapping_len());
        let aligned = (r.base().as_ptr() as usize).is_multiple_of(pg);
        p.release()?;
        ensure_eq!(len, 4 * pg, "usable length");
        ensure_eq!(before, pg, "leading guard");
        ensure_eq!(after, 2 * pg, "trailing guard");
        ensure_eq!(total, 7 * pg, "mapping length");
        ensure!(aligned, "base is not page-aligned");
        Ok(Verdict::Passed)
    }

    /// A zero or unrepresentable size is refused.
    pub fn reserve_rejects_bad_sizes(a: &dyn PageAllocator, _h: &dyn Harness) -> Outcome {
        let zero = a.reserve(&ReserveOptions::new(0));
        ensure_eq!(zero.err(), Some(Errno::INVAL), "reserve(0)");
        let max = a.reserve(&ReserveOptions::new(usize::MAX));
        ensure_eq!(max.err(), Some(Errno::OVERFLOW), "reserve(usize::MAX)");
        let huge = ReserveOptions::new(usize::MAX / 2).guard_before(usize::MAX / 2);
        ensure_eq!(
            a.reserve(&huge).err(),
            Some(Errno::OVERFLOW),
            "reserve(max + guard)"
        );
        Ok(Verdict::Passed)
    }

    /// Fresh committed pages read zero and keep what is written.
    pub fn committed_pages_read_zero_and_keep_writes(
        a: &dyn PageAllocator,
        _h: &dyn Harness,
    ) -> Outcome {
        let pg = a.page_size();
        let p = Pages::reserve(a, 4)?;
        step(p.commit(pg, 2 * pg), "commit")?;
        let pattern = |i: usize| (i % 253) as u8 + 1;
        let mut bad = None;
        for i in (pg..3 * pg).step_by(251) {
            if peek(p.at(i)) != 0 {
                bad = Some(i);
            }
            poke(p.at(i), pattern(i));
        }
        for i in (pg..3 * pg).step_by(251) {
            if peek(p.at(i)) != pattern(i) {
                bad = Some(i);
            }
        }
        p.release()?;
        ensure!(bad.is_none(), "byte at offset {:?} read wrong", bad);
        Ok(Verdict::Passed)
    }

    /// Misaligned and out-of-range requests fail with the documented error
    /// and leave the memory as it was; a zero length is accepted.
    pub fn bad_ranges_are_rejected_and_change_nothing(
        a: &dyn PageAllocator,
        _h: &dyn Harness,
    ) -> Outcome {
        let pg = a.page_size();
        let p = Pages::reserve(a, 2)?;
        step(p.commit(0, 2 * pg), "commit")?;
        poke(p.at(0), 0xA5);
        let cases: [(usize, usize, Errno, &str); 5] = [
            (1, pg, Errno::INVAL, "misaligned offset"),
            (0, pg + 1, Errno::INVAL, "misaligned length"),
            (pg, 2 * pg, Errno::RANGE, "range past the end"),
            (3 * pg, 0, Errno::RANGE, "empty range past the end"),
            (
                pg,
                usize::MAX - pg + 1,
                Errno::RANGE,
                "offset + length overflowing",
            ),
        ];
        for (off, len, want, what) in cases {
            let got = [
                p.commit(off, len),
                p.protect(off, len, Protection::NONE),
                p.decommit(off, len),
            ];
            if let Some(g) = got.iter().find(|g| **g != Err(want)) {
                let g = *g;
                p.release()?;
                return Err(Failure::new(format_args!(
                    "{what}: got {g:?}, expected {want:?}"
                )));
            }
        }
        let zero = [p.protect(pg, 0, Protection::NONE), p.decommit(0, 0)];
        let kept = peek(p.at(0));
        // Still writable: the refused protect(NONE) calls changed nothing.
        poke(p.at(0), 0x5A);
        p.release()?;
        ensure_eq!(zero, [Ok(()), Ok(())], "zero-length operations");
        ensure_eq!(kept, 0xA5, "contents after refused calls");
        Ok(Verdict::Passed)
    }

    /// Decommitted pages read zero and can be written again.
    pub fn decommitted_pages_read_zero_and_stay_usable(
        a: &dyn PageAllocator,
        _h: &dyn Harness,
    ) -> Outcome {
        let pg = a.page_size();
        let p = Pages::reserve(a, 3)?;
        step(p.commit(0, 3 * pg), "commit")?;
        for page in 0..3 {
            poke(p.at(page * pg), 0x11);
            poke(p.at(page * pg + pg - 1), 0x22);
        }
        step(p.decommit(pg, 2 * pg), "decommit")?;
        let kept = peek(p.at(0));
        let zeroed = [
            peek(p.at(pg)),
            peek(p.at(2 * pg - 1)),
            peek(p.at(3 * pg - 1)),
        ];
        poke(p.at(pg), 0x33);
        let again = peek(p.at(pg));
        p.release()?;
        ensure_eq!(kept, 0x11, "page before the decommitted range");
        ensure_eq!(zeroed, [0, 0, 0], "decommitted bytes");
        ensure_eq!(again, 0x33, "write after decommit");
        Ok(Verdict::Passed)
    }

    /// Reserved but uncommitted pages fault on read.
    pub fn reserved_pages_fault(a: &dyn PageAllocator, h: &dyn Harness) -> Outcome {
        let p = Pages::reserve(a, 1)?;
        let faulted = h.faults(&|| {
            peek(p.at(0));
        });
        p.release()?;
        match faulted {
            None => Ok(Verdict::Skipped("harness cannot isolate faults")),
            Some(f) => {
                ensure!(f, "reading an uncommitted page did not fault");
                Ok(Verdict::Passed)
            }
        }
    }

    /// Read-only pages can be read but fault on write.
    pub fn read_only_pages_fault_on_write(a: &dyn PageAllocator, h: &dyn Harness) -> Outcome {
        let pg = a.page_size();
        let p = Pages::reserve(a, 1)?;
        step(p.commit(0, pg), "commit")?;
        poke(p.at(0), 7);
        step(p.protect(0, pg, Protection::READ), "protect(READ)")?;
        let read = h.faults(&|| {
            peek(p.at(0));
        });
        let write = h.faults(&|| poke(p.at(0), 8));
        let value = peek(p.at(0));
        p.release()?;
        match (read, write) {
            (Some(read), Some(write)) => {
                ensure!(!read, "reading a read-only page faulted");
                ensure!(write, "writing a read-only page did not fault");
                ensure_eq!(value, 7, "read-only contents");
                Ok(Verdict::Passed)
            }
            _ => Ok(Verdict::Skipped("harness cannot isolate faults")),
        }
    }

    /// Committed pages protected back to none fault on read.
    pub fn pages_protected_none_fault(a: &dyn PageAllocator, h: &dyn Harness) -> Outcome {
        let pg = a.page_size();
        let p = Pages::reserve(a, 2)?;
        step(p.commit(0, 2 * pg), "commit")?;
        step(p.protect(pg, pg, Protection::NONE), "protect(NONE)")?;
        let first = h.faults(&|| poke(p.at(0), 1));
        let second = h.faults(&|| {
            peek(p.at(pg));
        });
        p.release()?;
        match (first, second) {
            (Some(first), Some(second)) => {
                ensure!(!first, "the page left read-write faulted");
                ensure!(second, "the page protected NONE did not fault");
                Ok(Verdict::Passed)
            }
            _ => Ok(Verdict::Skipped("harness cannot isolate faults")),
        }
    }

    /// The guards around a fully committed reservation fault.
    pub fn guard_regions_fault(a: &dyn PageAllocator, h: &dyn Harness) -> Outcome {
        let pg = a.page_size();
        let p = Pages::reserve(a, 2)?;
        step(p.commit(0, 2 * pg), "commit")?;
        let before = p.at(0).wrapping_sub(1);
        let last = h.faults(&|| poke(p.at(2 * pg - 1), 1));
        let f_before = h.faults(&|| {
            peek(before);
        });
        let f_after = h.faults(&|| {
            peek(p.at(2 * pg));
        });
        p.release()?;
        match (last, f_before, f_after) {
            (Some(l), Some(b), Some(af)) => {
                ensure!(!l, "the last usable byte faulted");
                ensure!(b, "the byte before the base did not fault");
                ensure!(af, "the byte after the end did not fault");
                Ok(Verdict::Passed)
            }
            _ => Ok(Verdict::Skipped("harness cannot isolate faults")),
        }
    }

    /// After release, the memory is gone (checked in isolation: the child
    /// reserves, commits, releases, then touches).
    pub fn released_pages_fault(a: &dyn PageAllocator, h: &dyn Harness) -> Outcome {
        let faulted = h.faults(&|| {
            let Ok(p) = Pages::reserve(a, 1) else {
                return; // returning instead of faulting fails the check
            };
            let base = p.at(0);
            if p.commit(0, a.page_size()).is_err() {
                return;
            }
            poke(base, 1);
            if p.release().is_err() {
                return;
            }
            poke(base, 2);
        });
        match faulted {
            None => Ok(Verdict::Skipped("harness cannot isolate faults")),
            Some(f) => {
                ensure!(f, "writing released memory did not fault (or setup failed)");
                Ok(Verdict::Passed)
            }
        }
    }
}

/// Futex checks.
pub mod futex {
    use super::*;

    /// A bound for "returns at once" and "wakes promptly" that still holds
    /// under emulation on a loaded two-core machine.
    const SLACK: Duration = Duration::from_secs(5);

    /// A wait on a value that differs returns `Mismatch` without sleeping.
    pub fn mismatch_returns_at_once(f: &(dyn FutexLike + Sync), h: &dyn Harness) -> Outcome {
        let word = AtomicU32::new(1);
        let t0 = h.now();
        let got = step(f.wait(&word, 0, None), "wait")?;
        let timed = step(
            f.wait(&word, 2, Some(Duration::from_secs(60))),
            "timed wait",
        )?;
        let took = h.now() - t0;
        ensure_eq!(got, WaitOutcome::Mismatch, "untimed wait on a mismatch");
        ensure_eq!(timed, WaitOutcome::Mismatch, "timed wait on a mismatch");
        ensure!(took < SLACK, "mismatching waits took {took:?}");
        Ok(Verdict::Passed)
    }

    /// A zero timeout on a matching value returns `TimedOut` at once.
    pub fn zero_timeout_times_out(f: &(dyn FutexLike + Sync), h: &dyn Harness) -> Outcome {
        let word = AtomicU32::new(5);
        let t0 = h.now();
        let got = step(f.wait(&word, 5, Some(Duration::ZERO)), "wait")?;
        let took = h.now() - t0;
        ensure_eq!(got, WaitOutcome::TimedOut, "zero-timeout wait");
        ensure!(took < SLACK, "zero-timeout wait took {took:?}");
        Ok(Verdict::Passed)
    }

    /// A timed wait with no waker returns `TimedOut`, not before the
    /// timeout, and within a sane bound after it.
    pub fn timeout_expires_within_bound(f: &(dyn FutexLike + Sync), h: &dyn Harness) -> Outcome {
        let word = AtomicU32::new(0);
        let timeout = Duration::from_millis(50);
        let t0 = h.now();
        let got = step(f.wait(&word, 0, Some(timeout)), "wait")?;
        let took = h.now() - t0;
        ensure_eq!(got, WaitOutcome::TimedOut, "timed wait with no waker");
        ensure!(
            took >= timeout,
            "returned after {took:?}, before the {timeout:?} timeout"
        );
        ensure!(
            took < timeout + SLACK,
            "returned after {took:?} for a {timeout:?} timeout"
        );
        Ok(Verdict::Passed)
    }

    /// Waking a word nobody waits on wakes nobody.
    pub fn wake_without_waiters_is_zero(f: &(dyn FutexLike + Sync), _h: &dyn Harness) -> Outcome {
        let word = AtomicU32::new(0);
        ensure_eq!(
            step(f.wake(&word, 1), "wake(1)")?,
            0,
            "wake(1) with no waiters"
        );
        ensure_eq!(
            step(f.wake(&word, u32::MAX), "wake(all)")?,
            0,
            "wake(all) with no waiters"
        );
        ensure_eq!(step(f.wake(&word, 0), "wake(0)")?, 0, "wake(0)");
        Ok(Verdict::Passed)
    }

    /// A waiter with a long timeout is woken by `wake`, long before the
    /// timeout, and reports `Woken`.
    pub fn wake_wakes_a_timed_waiter(f: &(dyn FutexLike + Sync), h: &dyn Harness) -> Outcome {
        let word = AtomicU32::new(0);
        let outcome = AtomicU32::new(u32::MAX);
        let woke = AtomicU32::new(0);
        let long = Duration::from_secs(30);
        let t0 = h.now();
        h.concurrently(2, &|i| {
            if i == 0 {
                let r = f.wait(&word, 0, Some(long));
                outcome.store(
                    match r {
                        Ok(WaitOutcome::Woken) => 0,
                        Ok(WaitOutcome::Mismatch) => 1,
                        Ok(WaitOutcome::TimedOut) => 2,
                        Err(_) => 3,
                    },
                    Ordering::Release,
                );
            } else {
                // Wake until the waiter has been woken (it may not be asleep yet).
                while outcome.load(Ordering::Acquire) == u32::MAX {
                    if let Ok(n) = f.wake(&word, 1) {
                        woke.fetch_add(n, Ordering::Relaxed);
                    }
                    h.sleep(Duration::from_millis(2));
                }
            }
        });
        let took = h.now() - t0;
        ensure_eq!(
            outcome.load(Ordering::Acquire),
            0,
            "waiter outcome (0 = Woken)"
        );
        ensure!(took < SLACK, "woken after {took:?}");
        if f.wake_count_is_exact() {
            ensure_eq!(woke.load(Ordering::Relaxed), 1, "wake counts summed");
        }
        Ok(Verdict::Passed)
    }

    /// With N sleeping waiters, wake(1) calls wake at most one each, and the
    /// counts add up to exactly the waiters that returned `Woken` (all N).
    pub fn wake_counts_are_exact(f: &(dyn FutexLike + Sync), h: &dyn Harness) -> Outcome {
        const N: usize = 6;
        let word = AtomicU32::new(0);
        let arrived = AtomicUsize::new(0);
        let done = AtomicUsize::new(0);
        let woken_outcomes = AtomicUsize::new(0);
        let other_outcomes = AtomicUsize::new(0);
        let counted = AtomicUsize::new(0);
        let over = AtomicBool::new(false);
        let wake_err = AtomicBool::new(false);
        h.concurrently(N + 1, &|i| {
            if i < N {
                arrived.fetch_add(1, Ordering::SeqCst);
                match f.wait(&word, 0, None) {
                    Ok(WaitOutcome::Woken) => woken_outcomes.fetch_add(1, Ordering::SeqCst),
                    _ => other_outcomes.fetch_add(1, Ordering::SeqCst),
                };
                done.fetch_add(1, Ordering::SeqCst);
                return;
            }
            while arrived.load(Ordering::SeqCst) < N {
                h.sleep(Duration::from_millis(1));
            }
            // Give the waiters time to enter the kernel; correctness does
            // not depend on it, only how many wake(1) calls return 0.
            h.sleep(Duration::from_millis(20));
            while done.load(Ordering::SeqCst) < N {
                match f.wake(&word, 1) {
                    Ok(n) => {
                        if n > 1 {
                            over.store(true, Ordering::SeqCst);
                        }
                        counted.fetch_add(n as usize, Ordering::SeqCst);
                        if n == 0 {
                            h.sleep(Duration::from_millis(1));
                        }
                    }
                    Err(_) => {
                        wake_err.store(true, Ordering::SeqCst);
                        // Fall back to waking everyone so the test ends.
                        word.store(1, Ordering::SeqCst);
                        let _ = f.wake(&word, u32::MAX);
                    }
                }
            }
        });
        ensure!(!wake_err.load(Ordering::SeqCst), "wake returned an error");
        ensure!(
            !over.load(Ordering::SeqCst),
            "wake(1) reported more than one woken"
        );
        ensure_eq!(
            other_outcomes.load(Ordering::SeqCst),
            0,
            "waiters that did not return Woken"
        );
        ensure_eq!(
            woken_outcomes.load(Ordering::SeqCst),
            N,
            "waiters that returned Woken"
        );
        if f.wake_count_is_exact() {
            ensure_eq!(counted.load(Ordering::SeqCst), N, "sum of wake counts");
        }
        Ok(Verdict::Passed)
    }

    /// 100,000 round trips between two threads, each waiting with a long
    /// timeout: a lost wake-up shows up as a timeout and fails the check.
    pub fn ping_pong_loses_no_wakeups(f: &(dyn FutexLike + Sync), h: &dyn Harness) -> Outcome {
        const ROUNDS: u32 = 100_000;
        let timeout = Some(Duration::from_secs(10));
        let word = AtomicU32::new(0);
        let failed = AtomicU32::new(0); // 0 ok, 1 timed out (lost wake-up), 2 error
        let rounds_done = AtomicU32::new(0);
        h.concurrently(2, &|i| {
            // Thread 0 flips 0 -> 1, thread 1 flips 1 -> 0; each then waits
            // for the other's flip.
            let (mine, theirs) = if i == 0 { (0, 1) } else { (1, 0) };
            for _ in 0..ROUNDS {
                while word.load(Ordering::Acquire) != mine {
                    if failed.load(Ordering::Relaxed) != 0 {
                        return;
                    }
                    match f.wait(&word, theirs, timeout) {
                        Ok(WaitOutcome::TimedOut) => {
                            if word.load(Ordering::Acquire) == theirs {
                                failed.store(1, Ordering::Relaxed);
                                let _ = f.wake(&word, u32::MAX);
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(_) => {
                            failed.store(2, Ordering::Relaxed);
                            let _ = f.wake(&word, u32::MAX);
                            return;
                        }
                    }
                }
                word.store(theirs, Ordering::Release);
                if f.wake(&word, 1).is_err() {
                    failed.store(2, Ordering::Relaxed);
                    return;
                }
                if i == 0 {
                    rounds_done.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        ensure_eq!(
            failed.load(Ordering::Relaxed),
            0,
            "failure (1 = lost wake-up, 2 = error)"
        );
        ensure_eq!(
            rounds_done.load(Ordering::Relaxed),
            ROUNDS,
            "round trips completed"
        );
        Ok(Verdict::Passed)
    }
}

/// A [`Harness`] on `std` threads and clocks. It cannot isolate faults
/// (`faults` returns `None`); test crates wrap it with a fork-based
/// `faults`.
#[cfg(feature = "std")]
#[derive(Debug)]
pub struct StdHarness {
    origin: std::time::Instant,
}

#[cfg(feature = "std")]
impl Default for StdHarness {
    fn default() -> Self {
        Self {
            origin: std::time::Instant::now(),
        }
    }
}

#[cfg(feature = "std")]
impl Harness for StdHarness {
    fn concurrently(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        std::thread::scope(|s| {
            for i in 0..n {
                s.spawn(move || f(i));
            }
        });
    }

    fn faults(&self, _f: &dyn Fn()) -> Option<bool> {
        None
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d);
    }
}
