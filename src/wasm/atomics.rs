//! Wasm `memory.atomic.wait32`, `memory.atomic.wait64` and
//! `memory.atomic.notify`: an address-keyed wait queue that wakes in FIFO
//! order, counts exactly and never returns a spurious "woken", on top of
//! any [`FutexLike`].
//!
//! # Shape
//! A [`WaitQueue`] is a fixed table of [`BUCKETS`] buckets, keyed by a hash
//! of the *host address* of the waited word. Host addresses are unique
//! across memories, so one queue serves every memory of a process (as
//! `parking_lot`'s global table does). A bucket holds a spin lock, an
//! intrusive doubly-linked FIFO list of waiter nodes and a count of the
//! nodes in it. A node lives on the waiting thread's stack:
//! `{ key, prev/next, state }`. The queue also owns [`SLOTS`] *parking
//! words*: a waiting thread parks through [`FutexLike::wait`] on the slot
//! its node's address hashes to. So a 64-bit wait needs no 64-bit futex,
//! and FIFO order and exact counts hold whatever order the OS wakes in and
//! whether or not it can count (Zephyr wakes by priority, macOS's ulock
//! cannot count): the queue decides who is woken (the node's `state`), the
//! futex only gets the thread off the CPU, and a wake that reaches a thread
//! whose node was not chosen is a spurious return it sleeps through.
//!
//! # Protocol
//! * wait: load the word (`SeqCst`); a mismatch returns
//!   [`WaitResult::NotEqual`] with no lock and no system call, and a zero
//!   timeout then returns [`WaitResult::TimedOut`]. Otherwise lock the
//!   bucket, increment its `waiters` (`SeqCst`), load the word again
//!   (`SeqCst`; a mismatch undoes the increment and returns `NotEqual`),
//!   append the node at the tail, unlock, run the *monitor phase* (below),
//!   and park on the node's slot until the node's state is `DONE`.
//! * notify: if the bucket's `waiters` is 0, return 0: one load, no lock, no
//!   system call. Otherwise lock, take up to `count` nodes with the address
//!   from the head (skipping nodes of other addresses that share the
//!   bucket), mark each `NOTIFYING`, subtract them from `waiters`, unlock;
//!   then for each, in FIFO order: read its successor, swap in `DONE` (the
//!   last access to the node) and, if the old state says the waiter parked,
//!   increment its slot and wake every sleeper of the slot. Return how many
//!   were taken.
//! * A node's state goes `WAITING` -> `NOTIFYING` (set by a notifier under
//!   the bucket lock, as it unlinks the node) -> `DONE` (set by that
//!   notifier once it no longer needs the node's links). **A waiter returns
//!   only after it has seen `DONE`**: this is what makes stack-allocated
//!   nodes sound. Because the notifier's wake goes to the slot, which lives
//!   as long as the queue, and not to the node, `DONE` comes *before* the
//!   wake: a woken waiter never has to wait for its notifier to come back
//!   from the system call (a waiter woken early, by a shared slot or a
//!   timeout, sees `NOTIFYING` and parks again until `DONE`; it never
//!   spins). A node leaves the queue before its stack frame does, on every
//!   path, including a panic that unwinds out of a (foreign) `FutexLike`
//!   or [`Clock`].
//! * Parking: the waiter loads its slot's sequence (`Acquire`), then sets
//!   the `PARKED` bit of its state (`fetch_or`, `AcqRel`); unless the old
//!   state was final, it sleeps while the slot still holds that sequence.
//!   The notifier swaps in `DONE` (`AcqRel`) and, only if the old state has
//!   `PARKED`, increments the slot (`Release`) and wakes it. The two
//!   read-modify-writes of the state are ordered: if the `fetch_or` came
//!   first, the swap sees `PARKED` and synchronises with it, so the
//!   waiter's sequence load happened before the increment and is stale:
//!   its futex wait returns at once or is woken by the wake that follows.
//!   If the swap came first, the `fetch_or` sees `DONE` and the waiter
//!   does not sleep. No wake-up is lost, whoever else shares the slot, and
//!   a notify whose waiter never parked (it saw `DONE` in its monitor
//!   phase) makes no system call.
//! * Monitor phase: between joining the queue and the first park, the
//!   waiter watches its own node's state word, without a system call, for
//!   at most its bucket's spin budget (and never longer than its timeout,
//!   which the phase's time counts against). It returns `Ok` as soon as it
//!   sees a final state; otherwise it parks as above. The watch is
//!   `sevl; wfe; ldaxr; cmp; b.hs; wfe` on aarch64 (`wfet` with FEAT_WFxT,
//!   a `yield` loop without the timer's event stream; `asm/aarch64-elf/
//!   monitor.s`) and `umonitor`/`umwait` (WAITPKG; `asm/x86_64-elf/
//!   monitor.s`) or a `pause` loop on x86_64, bounded by the counter
//!   (`CNTVCT_EL0`, the TSC). The budget adapts per bucket: a phase that
//!   ends in a wake-up doubles it (up to the queue's limit,
//!   [`WaitQueue::set_spin_limit`], default [`DEFAULT_SPIN_LIMIT`]), one
//!   that gives up halves it. When waiter and notifier share one CPU, a
//!   phase can never succeed (the notifier cannot run), so the budget
//!   falls below [`SPIN_MIN`] (counts as zero) within five waits; from
//!   there only a probe watches, for the whole cap, to notice when
//!   spinning starts to pay again: one wait in [`SPIN_PROBE_EVERY_MIN`],
//!   and each probe that gives up doubles that interval, up to
//!   [`SPIN_PROBE_EVERY_MAX`] (so a phase that can never succeed costs
//!   about cap / 4096 per wait). A probe that succeeds restores the budget.
//!   The phase only ends a wait earlier: results, FIFO order and counts
//!   are those of the queue.
//! * timeout: lock the bucket; if the node is still `WAITING` the waiter
//!   unlinks itself and returns `TimedOut`; otherwise a notify won the
//!   race and counted this waiter, so it parks until `DONE` and returns
//!   [`WaitResult::Ok`]. So a notify's result always equals the number of
//!   waiters that return `Ok` for it: no spurious `Ok`, no double wake.
//! * cancellation (a memory being destroyed): its owner makes the `open`
//!   condition of [`WaitQueue::wait32_unless_closed`] false (`SeqCst`),
//!   then [`WaitQueue::cancel_range`] takes every node of the memory's
//!   address range as a notify would, but stores the final state
//!   `CANCELLED` instead of `DONE`: those waiters return
//!   [`WaitResult::Cancelled`]. A waiter checks `open` under its bucket
//!   lock after incrementing `waiters` (the same Dekker pair as notify's
//!   fast path), so it either sees the condition closed or is found.
//! * Timeouts are absolute deadlines on a monotonic [`Clock`], fixed when
//!   the wait starts: after a spurious return of the futex the waiter
//!   sleeps only for what is left. Untimed waits never read the clock.
//! * Threads only: the bucket lock is a plain spin lock that does not mask
//!   interrupts, so on bare metal an interrupt handler must neither wait
//!   nor notify (it could spin forever on a lock held by the thread it
//!   interrupted).
//!
//! # Memory ordering of the fast path
//! The `waiters == 0` check of notify and the waiter's increment-then-load
//! form a Dekker pair: a waiter increments `waiters` and then loads the
//! word; a notifier has stored the word and then loads `waiters`, all
//! `SeqCst`. In the single total order of `SeqCst` operations one of the
//! two loads sees the other side's write: either the notifier sees the
//! waiter (and takes the lock, behind which the waiter's node already is),
//! or the waiter sees the new value and returns `NotEqual`. No wake-up is
//! lost. This holds when the write to the waited word that precedes the
//! notify is a Wasm atomic store or read-modify-write (`SeqCst`), as Wasm
//! programs that use wait/notify write it. A plain, non-atomic store
//! right before the notify is a data race on the waited address, and it is
//! not fenced here: a fence would cost about 6 ns on every notify, several
//! times the fast path itself.
//!
//! # Checking it
//! Built with `--cfg loom`, the atomics, the cell and the bucket lock come
//! from `loom` (the `sync` shim below) and `tests/loom_atomics.rs` runs every
//! interleaving of the enqueue/notify/timeout races. Loom treats `SeqCst`
//! accesses as `AcqRel`, so under loom alone a `SeqCst` fence separates
//! the two accesses of each side of the Dekker pair; it forbids the same
//! store-buffering outcome that the total order forbids natively.

use core::ptr;
use core::time::Duration;

use self::sync::{AtomicU32, AtomicU64, AtomicUsize, FutexLike, Ordering, UnsafeCell};
use crate::futex::WaitOutcome;

/// Under loom: the [`FutexLike`](crate::futex::FutexLike) the queue parks
/// through, on loom's `AtomicU32`.
#[cfg(loom)]
pub use self::sync::FutexLike as LoomFutexLike;

/// The atomics, the cell, the bucket lock and the futex trait the queue is
/// built from: `core` and [`crate::futex::FutexLike`] normally, `loom`
/// (and the same trait on loom's atomics) under `--cfg loom`.
mod sync {
    #[cfg(not(loom))]
    pub(super) use crate::futex::FutexLike;
    #[cfg(not(loom))]
    pub(super) use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
    #[cfg(loom)]
    pub(super) use loom::cell::UnsafeCell;
    #[cfg(loom)]
    pub(super) use loom::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

    /// `core`'s `UnsafeCell` with the closure-based access of loom's.
    #[cfg(not(loom))]
    pub(super) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

    #[cfg(not(loom))]
    impl<T> UnsafeCell<T> {
        pub(super) const fn new(value: T) -> Self {
            Self(core::cell::UnsafeCell::new(value))
        }

        pub(super) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// [`crate::futex::FutexLike`] with loom's `AtomicU32`, for models.
    #[cfg(loom)]
    pub trait FutexLike {
        /// As [`crate::futex::FutexLike::wait`].
        fn wait(
            &self,
            word: &AtomicU32,
            expected: u32,
            timeout: Option<core::time::Duration>,
        ) -> crate::errno::Result<crate::futex::WaitOutcome>;

        /// As [`crate::futex::FutexLike::wake`].
        fn wake(&self, word: &AtomicU32, n: u32) -> crate::errno::Result<u32>;
    }

    /// The bucket lock: a spin lock (`AtomicBool`, test-and-test-and-set)
    /// natively.
    #[cfg(not(loom))]
    pub(super) struct RawLock(AtomicBool);

    #[cfg(not(loom))]
    impl RawLock {
        pub(super) const fn new() -> Self {
            RawLock(AtomicBool::new(false))
        }

        pub(super) fn lock(&self) {
            while self
                .0
                .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
            {
                while self.0.load(Ordering::Relaxed) {
                    spin();
                }
            }
        }

        pub(super) fn unlock(&self) {
            self.0.store(false, Ordering::Release);
        }
    }

    /// Under loom the bucket lock blocks instead of spinning: loom's
    /// scheduler can oscillate between two spinning threads and never run
    /// the holder (tokio-rs/loom#53), which turns 3-thread models into
    /// "exceeded maximum number of branches". A lock whose waiters block
    /// is what a spin lock is modelled as; the native spin lock itself is
    /// a plain test-and-test-and-set lock (Acquire CAS, Release store).
    #[cfg(loom)]
    pub(super) struct RawLock {
        locked: loom::sync::Mutex<bool>,
        cv: loom::sync::Condvar,
    }

    #[cfg(loom)]
    impl RawLock {
        pub(super) fn new() -> Self {
            RawLock {
                locked: loom::sync::Mutex::new(false),
                cv: loom::sync::Condvar::new(),
            }
        }

        pub(super) fn lock(&self) {
            let mut locked = self.locked.lock().unwrap();
            while *locked {
                locked = self.cv.wait(locked).unwrap();
            }
            *locked = true;
        }

        pub(super) fn unlock(&self) {
            *self.locked.lock().unwrap() = false;
            self.cv.notify_one();
        }
    }

    /// One step of a spin-wait.
    #[cfg(not(loom))]
    #[inline]
    fn spin() {
        core::hint::spin_loop();
    }

    /// Nothing natively (the `SeqCst` accesses around it are ordered by
    /// the total order); a `SeqCst` fence under loom, which models `SeqCst`
    /// accesses as `AcqRel` (see the module docs).
    #[inline]
    pub(super) fn dekker_fence() {
        #[cfg(loom)]
        loom::sync::atomic::fence(Ordering::SeqCst);
    }
}

/// The monitor phase's watch: waits, without a system call, until a node's
/// state word holds a final state or a budget has passed.
///
/// * Linux and bare metal on aarch64: the routines of
///   `asm/aarch64-elf/monitor.s`, bounded by `CNTVCT_EL0`. Which one is
///   probed once: `wfet` where FEAT_WFxT exists (Linux `HWCAP2_WFXT`; bare
///   metal `ID_AA64ISAR2_EL1`); `wfe` where the timer's event stream is on
///   (Linux `HWCAP_EVTSTRM`, 10 kHz; bare metal turns it on, at most
///   100 µs, as its futex does), which ends a `wfe` at most one period
///   (100 µs) past the deadline; otherwise a `yield` loop.
/// * Linux on x86_64: `umonitor`/`umwait` (`asm/x86_64-elf/monitor.s`)
///   where CPUID says WAITPKG, otherwise a `pause` loop, both bounded by
///   the TSC, whose rate is measured once against `CLOCK_MONOTONIC` (about
///   50 µs, on the first phase of the process). The rate only has to hold
///   for the length of a phase: x86_64 CPUs since about 2008 run the TSC
///   at a constant rate (Linux's `constant_tsc`), whether or not CPUID
///   calls it invariant, which VMs often hide. Without a clock to measure
///   it against there is no phase.
/// * Under loom and Miri: a few plain polls (time stands still), so the
///   models and the interpreter explore notifies that land during the
///   phase and just after it.
/// * Elsewhere there is no phase ([`AVAILABLE`] is false).
mod monitor {
    use core::time::Duration;

    use super::DEFAULT_SPIN_LIMIT;
    use super::sync::AtomicU32;
    #[cfg(any(loom, miri))]
    use super::sync::Ordering;

    /// Whether this build has a monitor phase.
    pub(super) const AVAILABLE: bool = cfg!(any(
        loom,
        miri,
        all(
            any(wrt_os = "linux", wrt_os = "baremetal"),
            any(target_arch = "x86_64", target_arch = "aarch64")
        )
    ));

    /// The default spin limit in nanoseconds: 0 where there is no phase.
    pub(super) const DEFAULT_LIMIT_NS: u32 = if AVAILABLE {
        DEFAULT_SPIN_LIMIT.as_nanos() as u32
    } else {
        0
    };

    /// Watches `state` until it is final (`DONE` or `CANCELLED`) or
    /// `budget` has passed. Returns the last value read and the time spent,
    /// or `None` when there is no counter to bound a phase (no phase ran).
    #[cfg(any(loom, miri))]
    pub(super) fn watch(state: &AtomicU32, _budget: Duration) -> Option<(u32, Duration)> {
        /// Polls of a phase: two under loom (the models explore every
        /// notify around them), more under Miri (whose scheduler preempts
        /// a spinning thread at random).
        const POLLS: usize = if cfg!(loom) { 2 } else { 32 };
        let mut s = state.load(Ordering::Acquire);
        for _ in 1..POLLS {
            if s >= super::DONE {
                break;
            }
            #[cfg(not(loom))]
            core::hint::spin_loop();
            s = state.load(Ordering::Acquire);
        }
        Some((s, Duration::ZERO))
    }

    /// Without a monitor phase ([`AVAILABLE`] is false, so the spin limit
    /// is 0 and no phase starts).
    #[cfg(not(any(
        loom,
        miri,
        all(
            any(wrt_os = "linux", wrt_os = "baremetal"),
            any(target_arch = "x86_64", target_arch = "aarch64")
        )
    )))]
    pub(super) fn watch(_state: &AtomicU32, _budget: Duration) -> Option<(u32, Duration)> {
        None
    }

    /// As the loom/Miri `watch`, on the counter of the platform.
    #[cfg(all(
        not(any(loom, miri)),
        any(wrt_os = "linux", wrt_os = "baremetal"),
        any(target_arch = "x86_64", target_arch = "aarch64")
    ))]
    pub(super) fn watch(state: &AtomicU32, budget: Duration) -> Option<(u32, Duration)> {
        let hz = counter::frequency()?;
        let start = counter::now();
        // Rounded up, so the phase never ends before its budget (a timeout
        // shorter than the budget then ends the wait with the phase). In
        // u64: a u128 division would pull compiler_builtins into the C
        // clients' links. The budget is at most MAX_SPIN_LIMIT (1e6 ns),
        // so the product fits for any counter below 18 THz.
        let ns = budget.min(super::MAX_SPIN_LIMIT).as_nanos() as u64;
        let ticks = (ns * hz).div_ceil(1_000_000_000);
        let s = counter::wait_until(state, start.saturating_add(ticks));
        // Saturating: a counter that went back (a TSC behind on the CPU the
        // thread moved to) must not end the wait's timeout early.
        let spent = counter::now().saturating_sub(start);
        let rest_ns = spent % hz * 1_000_000_000 / hz; // spent % hz < hz
        let spent = Duration::from_secs(spent / hz) + Duration::from_nanos(rest_ns);
        Some((s, spent))
    }

    /// The TSC, its rate and the x86_64 waits.
    #[cfg(all(not(any(loom, miri)), wrt_os = "linux", target_arch = "x86_64"))]
    mod counter {
        use core::arch::x86_64::{__cpuid, __cpuid_count, _rdtsc};
        use core::sync::atomic::{AtomicU8, AtomicU32, AtomicU64, Ordering};
        use core::time::Duration;

        use super::super::DONE;
        use crate::os::linux::time::monotonic;

        core::arch::global_asm!(include_str!("../../asm/x86_64-elf/monitor.s"), options(raw));

        unsafe extern "C" {
            /// `umonitor`/`umwait` until `*state >= 2` or the TSC reaches
            /// `deadline`; returns the last value read.
            fn wrt_monitor_umwait(state: *const u32, deadline: u64) -> u32;
        }

        /// How long the TSC is measured against `CLOCK_MONOTONIC`.
        const CALIBRATION: Duration = Duration::from_micros(50);

        /// The TSC.
        pub(super) fn now() -> u64 {
            // SAFETY: `rdtsc` reads a counter; every x86_64 CPU has it.
            unsafe { _rdtsc() }
        }

        /// The TSC's rate in Hz, measured once; `None` without a clock.
        pub(super) fn frequency() -> Option<u64> {
            // 0: not measured yet; 1: unusable.
            static HZ: AtomicU64 = AtomicU64::new(0);
            let hz = match HZ.load(Ordering::Relaxed) {
                0 => {
                    let hz = measure().unwrap_or(1);
                    HZ.store(hz, Ordering::Relaxed);
                    hz
                }
                hz => hz,
            };
            (hz > 1).then_some(hz)
        }

        fn measure() -> Option<u64> {
            let (t0, c0) = (monotonic().ok()?, now());
            loop {
                let (t1, c1) = (monotonic().ok()?, now());
                let ns = t1.checked_sub(t0)?.as_nanos();
                if ns >= CALIBRATION.as_nanos() {
                    // In u64, as in `watch`: ~50 µs of ticks times 1e9.
                    let ns = u64::try_from(ns).ok()?;
                    return c1
                        .wrapping_sub(c0)
                        .checked_mul(1_000_000_000)
                        .map(|t| t / ns);
                }
            }
        }

        /// Whether CPUID says WAITPKG (leaf 7, ECX bit 5), probed once.
        fn waitpkg() -> bool {
            // 0: not probed yet; 1: no; 2: yes.
            static CACHE: AtomicU8 = AtomicU8::new(0);
            match CACHE.load(Ordering::Relaxed) {
                1 => false,
                2 => true,
                _ => {
                    // Leaf 7 only where the maximum leaf reaches it.
                    let yes = __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ecx & (1 << 5) != 0;
                    CACHE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                    yes
                }
            }
        }

        /// Watches `state` until it is final or the TSC reaches `deadline`.
        pub(super) fn wait_until(state: &AtomicU32, deadline: u64) -> u32 {
            if waitpkg() {
                // SAFETY: WAITPKG exists (CPUID); `state` is a live, aligned
                // word that the routine only loads.
                return unsafe { wrt_monitor_umwait(state.as_ptr(), deadline) };
            }
            loop {
                let s = state.load(Ordering::Acquire);
                if s >= DONE || now() >= deadline {
                    return s;
                }
                core::hint::spin_loop();
            }
        }

        #[cfg(all(test, feature = "std"))]
        mod tests {
            use super::*;

            /// The wait of this CPU (`umwait` or `pause`) returns a final
            /// state at once, the final state another thread stores, and
            /// the last state once the TSC passed the deadline.
            #[test]
            fn wait_until_returns_on_a_store_and_at_the_deadline() {
                let hz = frequency().expect("a TSC rate");
                assert_eq!(wait_until(&AtomicU32::new(3), u64::MAX), 3);
                let w = AtomicU32::new(1);
                std::thread::scope(|s| {
                    s.spawn(|| {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                        w.store(2, Ordering::Release);
                    });
                    assert_eq!(wait_until(&w, u64::MAX), 2);
                });
                let deadline = now() + hz / 1000;
                assert_eq!(wait_until(&AtomicU32::new(1), deadline), 1);
                assert!(now() >= deadline);
            }
        }
    }

    /// `CNTVCT_EL0`, its rate and the aarch64 waits.
    #[cfg(all(
        not(any(loom, miri)),
        any(wrt_os = "linux", wrt_os = "baremetal"),
        target_arch = "aarch64"
    ))]
    mod counter {
        use core::sync::atomic::AtomicU32;

        core::arch::global_asm!(
            include_str!("../../asm/aarch64-elf/monitor.s"),
            options(raw)
        );

        unsafe extern "C" {
            /// `sevl; wfe; ldaxr; cmp; b.hs; wfe` until `*state >= 2` or
            /// `CNTVCT_EL0 >= deadline` (at most one event-stream period
            /// late); returns the last value read.
            fn wrt_monitor_wfe(state: *const u32, deadline: u64) -> u32;
            /// The same with `wfet deadline` (FEAT_WFxT only).
            fn wrt_monitor_wfet(state: *const u32, deadline: u64) -> u32;
            /// The same with `ldar` and `yield`, never sleeping (Linux
            /// without an event stream; bare metal turns the stream on).
            #[cfg(wrt_os = "linux")]
            fn wrt_monitor_poll(state: *const u32, deadline: u64) -> u32;
        }

        pub(super) use crate::arch::counter::now;

        /// `CNTFRQ_EL0`; `None` if firmware (or the boot code) left it 0.
        pub(super) fn frequency() -> Option<u64> {
            let hz = crate::arch::counter::frequency();
            (hz != 0).then_some(hz)
        }

        /// The routine for this CPU (see the module docs).
        type Routine = unsafe extern "C" fn(*const u32, u64) -> u32;

        #[cfg(wrt_os = "linux")]
        fn routine() -> Routine {
            use core::sync::atomic::{AtomicU8, Ordering};
            // 0: not probed yet; 1: wfet; 2: wfe; 3: poll.
            static CACHE: AtomicU8 = AtomicU8::new(0);
            let mode = match CACHE.load(Ordering::Relaxed) {
                0 => {
                    let aux = crate::os::linux::probe::auxv().ok();
                    let mode = match aux {
                        Some(a) if a.wfxt() => 1,
                        Some(a) if a.event_stream() => 2,
                        _ => 3,
                    };
                    CACHE.store(mode, Ordering::Relaxed);
                    mode
                }
                mode => mode,
            };
            match mode {
                1 => wrt_monitor_wfet,
                2 => wrt_monitor_wfe,
                _ => wrt_monitor_poll,
            }
        }

        #[cfg(wrt_os = "baremetal")]
        fn routine() -> Routine {
            use crate::os::baremetal::timer;
            if timer::has_wfxt() {
                return wrt_monitor_wfet;
            }
            // This core's stream (threads do not migrate between cores on
            // bare metal); a no-op once on.
            timer::enable_event_stream();
            wrt_monitor_wfe
        }

        /// Watches `state` until it is final or `CNTVCT_EL0` reaches
        /// `deadline`.
        pub(super) fn wait_until(state: &AtomicU32, deadline: u64) -> u32 {
            // SAFETY: `state` is a live, aligned word that the routines only
            // load; `routine` picks `wfet` only where FEAT_WFxT exists.
            unsafe { routine()(state.as_ptr(), deadline) }
        }

        #[cfg(all(test, feature = "std", wrt_os = "linux"))]
        mod tests {
            use super::*;
            use core::sync::atomic::Ordering;

            /// Each routine this CPU can run returns a final state at once
            /// and the final state another thread stores (which clears
            /// the waiter's exclusive monitor: an event that ends `wfe`
            /// even without an event stream); those that cannot oversleep
            /// also return the last state once the deadline passed. The
            /// `wfe` routine runs in every case: under qemu-user (no
            /// event stream) `wfe` does not sleep.
            #[test]
            fn routines_return_on_a_store_and_at_the_deadline() {
                let aux = crate::os::linux::probe::auxv().unwrap();
                let hz = frequency().unwrap();
                let routines: [(&str, Routine, bool, bool); 3] = [
                    ("poll", wrt_monitor_poll, true, true),
                    ("wfe", wrt_monitor_wfe, true, aux.event_stream()),
                    ("wfet", wrt_monitor_wfet, aux.wfxt(), aux.wfxt()),
                ];
                for (name, routine, runs, bounded) in routines {
                    if !runs {
                        continue;
                    }
                    let w = AtomicU32::new(3);
                    // SAFETY: a live word; the routine exists on this CPU.
                    assert_eq!(unsafe { routine(w.as_ptr(), u64::MAX) }, 3, "{name}");
                    let w = AtomicU32::new(1);
                    std::thread::scope(|s| {
                        s.spawn(|| {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                            w.store(2, Ordering::Release);
                        });
                        // SAFETY: as above.
                        assert_eq!(unsafe { routine(w.as_ptr(), u64::MAX) }, 2, "{name}");
                    });
                    if bounded {
                        let w = AtomicU32::new(1);
                        let deadline = now() + hz / 1000;
                        // SAFETY: as above.
                        assert_eq!(unsafe { routine(w.as_ptr(), deadline) }, 1, "{name}");
                        assert!(now() >= deadline, "{name}");
                    }
                }
            }
        }
    }
}

/// Buckets in a [`WaitQueue`] (a power of two). Under loom there is one, so
/// that every two addresses of a model share a bucket.
pub const BUCKETS: usize = if cfg!(loom) { 1 } else { 128 };

/// Parking words in a [`WaitQueue`] (a power of two). Under loom there is
/// one, so that every waiter of a model shares it.
pub const SLOTS: usize = if cfg!(loom) { 1 } else { 1024 };

const _: () = assert!(BUCKETS.is_power_of_two() && SLOTS.is_power_of_two());

/// Fibonacci hashing of `addr` into `0..n` (`n` a power of two): the
/// multiplication carries the low bits, which tell neighbouring addresses
/// apart, into the top bits, which pick the index.
fn hash(addr: usize, n: usize) -> usize {
    let h = (addr as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    h.checked_shr(64 - n.trailing_zeros()).unwrap_or(0) as usize
}

/// The bucket `addr` hashes to, in `0..BUCKETS` (for tests and
/// diagnostics: two addresses in one bucket share its lock).
pub fn bucket_index(addr: usize) -> usize {
    hash(addr, BUCKETS)
}

/// How a wait ended: the values of `memory.atomic.wait`'s result.
#[repr(u32)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum WaitResult {
    /// Woken by a notify, which counted this waiter ("ok").
    Ok = 0,
    /// The word did not hold the expected value ("not-equal").
    NotEqual = 1,
    /// The timeout passed before a notify ("timed-out").
    TimedOut = 2,
    /// Not a Wasm result: the wait was cancelled, either by
    /// [`WaitQueue::cancel_range`] while the thread slept or because the
    /// `open` condition of [`WaitQueue::wait32_unless_closed`] /
    /// [`WaitQueue::wait64_unless_closed`] was false when it joined the
    /// queue (the memory that holds the word is being destroyed).
    Cancelled = 3,
}

/// A monotonic clock, for the deadlines of timed waits.
pub trait Clock {
    /// The time since an arbitrary, fixed origin; never goes back. `None`
    /// when the clock cannot be read: a timed wait then sleeps its timeout
    /// once and treats a spurious return as the end of it (it may end
    /// early, never late).
    fn now(&self) -> Option<Duration>;
}

/// The monotonic clock of the platform: `clock_gettime(CLOCK_MONOTONIC)`
/// on Linux, the generic timer (`CNTVCT_EL0` / `CNTFRQ_EL0`) on bare
/// metal.
#[cfg(any(wrt_os = "linux", wrt_os = "baremetal"))]
#[derive(Copy, Clone, Debug, Default)]
pub struct OsClock;

#[cfg(wrt_os = "linux")]
impl Clock for OsClock {
    fn now(&self) -> Option<Duration> {
        crate::os::linux::time::monotonic().ok()
    }
}

#[cfg(wrt_os = "baremetal")]
impl Clock for OsClock {
    fn now(&self) -> Option<Duration> {
        Some(crate::os::baremetal::timer::now())
    }
}

/// Node states (see the module docs). `DONE` and `CANCELLED` are final:
/// the thread that took the node stores one of them as its last access.
const WAITING: u32 = 0;
const NOTIFYING: u32 = 1;
const DONE: u32 = 2;
const CANCELLED: u32 = 3;
/// A flag on top of the state: the waiter parked (or is about to) on its
/// slot, so its notifier must wake the slot (module docs, "Parking").
const PARKED: u32 = 4;

/// The default cap of the monitor phase (see the module docs): below the
/// cost of a futex sleep and wake-up on a VM (about 25-30 µs), above the
/// latency of a notify from another core (well under 1 µs).
pub const DEFAULT_SPIN_LIMIT: Duration = Duration::from_micros(20);

/// The largest spin limit [`WaitQueue::set_spin_limit`] accepts; larger
/// values are clamped to it.
pub const MAX_SPIN_LIMIT: Duration = Duration::from_millis(1);

/// Below this (or the cap, if lower) a bucket's adaptive budget counts as
/// zero: its waits run no monitor phase, except the probes.
pub const SPIN_MIN: Duration = Duration::from_micros(1);

/// While a bucket's budget counts as zero, one wait in `every` probes: it
/// runs a phase of the whole cap. `every` starts at this and doubles with
/// each probe that gives up, up to [`SPIN_PROBE_EVERY_MAX`]; a probe that
/// ends in a wake-up brings the budget back and `every` down to this.
pub const SPIN_PROBE_EVERY_MIN: u32 = 64;

/// The most waits between two probes (see [`SPIN_PROBE_EVERY_MIN`]).
pub const SPIN_PROBE_EVERY_MAX: u32 = 4096;

const SPIN_MIN_NS: u32 = SPIN_MIN.as_nanos() as u32;

/// The result of a wait whose node reached the final state `state`.
fn taken_result(state: u32) -> WaitResult {
    if state == CANCELLED {
        WaitResult::Cancelled
    } else {
        WaitResult::Ok
    }
}

/// A node's list links; read and written only under its bucket's lock
/// (and by the notifier that took it off the list, until `DONE`).
struct Links {
    prev: *const Node,
    next: *const Node,
}

/// A waiter, on the waiting thread's stack.
struct Node {
    /// The host address of the waited word.
    key: usize,
    links: UnsafeCell<Links>,
    /// `WAITING`, `NOTIFYING`, `DONE` or `CANCELLED`, with the `PARKED`
    /// flag once the waiter went to sleep.
    state: AtomicU32,
}

impl Node {
    fn new(key: usize) -> Self {
        Node {
            key,
            links: UnsafeCell::new(Links {
                prev: ptr::null(),
                next: ptr::null(),
            }),
            state: AtomicU32::new(WAITING),
        }
    }
}

/// Runs `f` on the links of `node`.
///
/// # Safety
/// `node` is live, and the caller may access its links: it holds the lock
/// of the bucket whose list holds `node`, or it is the notifier that took
/// `node` off that list and has not yet stored `DONE`.
unsafe fn with_links<R>(node: *const Node, f: impl FnOnce(&mut Links) -> R) -> R {
    // SAFETY: `node` is live (caller).
    let cell = unsafe { &(*node).links };
    cell.with_mut(|links| {
        // SAFETY: nobody else accesses the links now (caller), so this is
        // the only reference.
        f(unsafe { &mut *links })
    })
}

/// The head and tail of a bucket's FIFO list.
struct List {
    head: *const Node,
    tail: *const Node,
}

/// A hash bucket: a spin lock, the FIFO list it guards and how many nodes
/// the list holds (read without the lock by notify's fast path).
#[repr(align(64))]
struct Bucket {
    lock: sync::RawLock,
    waiters: AtomicUsize,
    list: UnsafeCell<List>,
    spin: Spin,
}

// SAFETY: the list (raw pointers to nodes on other threads' stacks) is
// only accessed under the lock, and every node in it stays live until it
// is unlinked under that lock (the node protocol, module docs).
unsafe impl Sync for Bucket {}
// SAFETY: as above; a bucket owns no node.
unsafe impl Send for Bucket {}

impl Bucket {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Bucket {
            lock: sync::RawLock::new(),
            waiters: AtomicUsize::new(0),
            list: UnsafeCell::new(List {
                head: ptr::null(),
                tail: ptr::null(),
            }),
            spin: Spin::new(),
        }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Bucket {
            lock: sync::RawLock::new(),
            waiters: AtomicUsize::new(0),
            list: UnsafeCell::new(List {
                head: ptr::null(),
                tail: ptr::null(),
            }),
            spin: Spin::new(),
        }
    }

    /// Takes the lock. Critical sections are a few pointer updates, never
    /// a system call.
    fn lock(&self) -> Locked<'_> {
        self.lock.lock();
        Locked(self)
    }
}

/// The adaptive budget of a bucket's monitor phase (module docs). A
/// heuristic: any value is correct, so plain `core` atomics with relaxed
/// accesses (also under loom, which need not explore them), and a lost
/// update between two waiters of the bucket changes nothing but speed.
struct Spin {
    /// The budget in nanoseconds, at most [`MAX_SPIN_LIMIT`].
    budget_ns: core::sync::atomic::AtomicU32,
    /// Counts the waits that found the budget counting as zero.
    skipped: core::sync::atomic::AtomicU32,
    /// One of those in this many probes (a power of two, from
    /// [`SPIN_PROBE_EVERY_MIN`] to [`SPIN_PROBE_EVERY_MAX`]).
    probe_every: core::sync::atomic::AtomicU32,
}

impl Spin {
    const fn new() -> Self {
        Spin {
            budget_ns: core::sync::atomic::AtomicU32::new(DEFAULT_SPIN_LIMIT.as_nanos() as u32),
            skipped: core::sync::atomic::AtomicU32::new(0),
            probe_every: core::sync::atomic::AtomicU32::new(SPIN_PROBE_EVERY_MIN),
        }
    }

    /// The budget of the next phase under the cap `limit_ns` (the whole
    /// cap for a probe), or `None` for no phase.
    fn budget(&self, limit_ns: u32) -> Option<Duration> {
        use core::sync::atomic::Ordering::Relaxed;
        if limit_ns == 0 {
            return None;
        }
        let ns = self.budget_ns.load(Relaxed).min(limit_ns);
        if ns >= SPIN_MIN_NS.min(limit_ns) {
            return Some(Duration::from_nanos(ns.into()));
        }
        let every = self.probe_every.load(Relaxed);
        let probe = self.skipped.fetch_add(1, Relaxed).is_multiple_of(every);
        probe.then(|| Duration::from_nanos(limit_ns.into()))
    }

    /// Adapts the budget to how a phase ended: doubled (from at least
    /// [`SPIN_MIN`], up to `limit_ns`) after a wake-up, halved after giving
    /// up; a probe (the budget counted as zero) also resets or doubles the
    /// probe interval.
    fn record(&self, woken: bool, limit_ns: u32) {
        use core::sync::atomic::Ordering::Relaxed;
        let floor = SPIN_MIN_NS.min(limit_ns);
        let ns = self.budget_ns.load(Relaxed);
        let probe = ns < floor;
        if woken {
            let next = ns.max(floor).saturating_mul(2).min(limit_ns);
            self.budget_ns.store(next, Relaxed);
            if probe {
                self.probe_every.store(SPIN_PROBE_EVERY_MIN, Relaxed);
            }
        } else {
            self.budget_ns.store(ns / 2, Relaxed);
            if probe {
                let every = self.probe_every.load(Relaxed);
                let next = every.saturating_mul(2).min(SPIN_PROBE_EVERY_MAX);
                self.probe_every.store(next, Relaxed);
            }
        }
    }
}

/// A locked bucket; unlocks on drop.
struct Locked<'a>(&'a Bucket);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.0.lock.unlock();
    }
}

impl Locked<'_> {
    /// Runs `f` on the list.
    fn with_list<R>(&mut self, f: impl FnOnce(&mut List) -> R) -> R {
        self.0.list.with_mut(|list| {
            // SAFETY: the lock is held and `&mut self` is unique: this is
            // the only access to the list.
            f(unsafe { &mut *list })
        })
    }

    /// Appends `node` at the tail.
    ///
    /// # Safety
    /// `node` is live, in no list, and stays live until it is unlinked
    /// under this bucket's lock or taken by a notifier that then stores
    /// `DONE`.
    unsafe fn push_back(&mut self, node: *const Node) {
        self.with_list(|list| {
            let tail = list.tail;
            // SAFETY: `node` is live (caller) and in no list; the lock is held.
            unsafe { with_links(node, |l| (l.prev, l.next) = (tail, ptr::null())) };
            if tail.is_null() {
                list.head = node;
            } else {
                // SAFETY: `tail` is in the list, hence live; the lock is held.
                unsafe { with_links(tail, |l| l.next = node) };
            }
            list.tail = node;
        });
    }

    /// Removes `node` from the list.
    ///
    /// # Safety
    /// `node` is in this bucket's list.
    unsafe fn unlink(&mut self, node: *const Node) {
        // SAFETY: `node` is in the list (caller), hence live; the lock is held.
        let (prev, next) = unsafe { with_links(node, |l| (l.prev, l.next)) };
        self.with_list(|list| {
            if prev.is_null() {
                list.head = next;
            } else {
                // SAFETY: `prev` is in the list, hence live; the lock is held.
                unsafe { with_links(prev, |l| l.next = next) };
            }
            if next.is_null() {
                list.tail = prev;
            } else {
                // SAFETY: `next` is in the list, hence live; the lock is held.
                unsafe { with_links(next, |l| l.prev = prev) };
            }
        });
    }

    /// Takes up to `count` nodes whose key lies in `keys` from the head,
    /// marks them `NOTIFYING` and returns them as a chain linked through
    /// `next` (first taken first), with their number.
    fn take(&mut self, keys: core::ops::Range<usize>, count: u32) -> (*const Node, u32) {
        let (mut first, mut last, mut taken) = (ptr::null::<Node>(), ptr::null::<Node>(), 0);
        let mut cur = self.with_list(|list| list.head);
        while !cur.is_null() && taken < count {
            // SAFETY: `cur` is in the list, hence live; the lock is held.
            let next = unsafe { with_links(cur, |l| l.next) };
            // SAFETY: as above.
            let node = unsafe { &*cur };
            if keys.contains(&node.key) {
                // SAFETY: `cur` is in the list.
                unsafe { self.unlink(cur) };
                // SAFETY: `cur` is live and now ours until `DONE`.
                unsafe { with_links(cur, |l| l.next = ptr::null()) };
                if last.is_null() {
                    first = cur;
                } else {
                    // SAFETY: `last` was taken above: live and ours.
                    unsafe { with_links(last, |l| l.next = cur) };
                }
                last = cur;
                // Under the lock: a waiter that times out now sees it was
                // counted. An RMW: the waiter may be setting `PARKED`.
                node.state.fetch_or(NOTIFYING, Ordering::Release);
                taken += 1;
            }
            cur = next;
        }
        // A stale non-zero count only sends a notifier to the lock.
        self.0.waiters.fetch_sub(taken as usize, Ordering::Relaxed);
        (first, taken)
    }
}

/// A queued node; leaves the queue (or waits for its notifier) on drop.
struct Parked<'a, F: FutexLike> {
    bucket: &'a Bucket,
    node: &'a Node,
    /// The parking word of `node` (see [`WaitQueue::slot`]).
    slot: &'a AtomicU32,
    futex: &'a F,
}

impl<F: FutexLike> Parked<'_, F> {
    /// One park: sleeps on the slot unless the node is final (`DONE` or
    /// `CANCELLED`), for at most `timeout`. Returns the state seen before
    /// sleeping and how the sleep ended (`None`: no sleep, the node was
    /// final).
    fn park(&self, timeout: Option<Duration>) -> (u32, Option<WaitOutcome>) {
        // The sequence first, then `PARKED`: a notifier that finds the bit
        // increments the slot after this load (module docs, "Parking").
        let seq = self.slot.load(Ordering::Acquire);
        let state = self.node.state.fetch_or(PARKED, Ordering::AcqRel) & !PARKED;
        if state >= DONE {
            return (state, None);
        }
        // An error (Linux gives none for a live word) is a spurious return:
        // every caller loops on the state.
        let outcome = self.futex.wait(self.slot, seq, timeout).ok();
        (state, Some(outcome.unwrap_or(WaitOutcome::Woken)))
    }

    /// Returns the final state once the thread that took the node has
    /// stored it: it is done with the node. Parks (untimed) while
    /// `NOTIFYING`; the window is the notifier waking the nodes it took
    /// before this one.
    fn wait_done(&self) -> u32 {
        loop {
            if let (state, None) = self.park(None) {
                return state;
            }
        }
    }

    /// Leaves the queue: `TimedOut` if the node was still waiting (it is
    /// unlinked now), `Ok` (or `Cancelled`) if a notifier (or a
    /// cancellation) took it, once it is final.
    fn leave(&self) -> WaitResult {
        {
            let mut locked = self.bucket.lock();
            // Relaxed: `NOTIFYING` is stored under this lock.
            if self.node.state.load(Ordering::Relaxed) & !PARKED == WAITING {
                // SAFETY: a `WAITING` node is in its bucket's list.
                unsafe { locked.unlink(self.node) };
                self.bucket.waiters.fetch_sub(1, Ordering::Relaxed);
                return WaitResult::TimedOut;
            }
        }
        taken_result(self.wait_done())
    }

    /// Ends a wait that timed out.
    fn cancel(self) -> WaitResult {
        let result = self.leave();
        core::mem::forget(self);
        result
    }

    /// Ends a wait whose node a notifier (or a cancellation) took.
    fn finish(self) -> WaitResult {
        let state = self.wait_done();
        core::mem::forget(self);
        taken_result(state)
    }
}

impl<F: FutexLike> Drop for Parked<'_, F> {
    /// Only on unwind: the node must not outlive its frame in the list.
    fn drop(&mut self) {
        self.leave();
    }
}

/// When a timed wait ends.
#[derive(Copy, Clone)]
enum Deadline {
    /// No timeout, or one too far away to represent.
    Never,
    /// This monotonic time.
    At(Duration),
    /// Unknown: the clock could not be read.
    Unknown,
}

impl Deadline {
    fn new(clock: &impl Clock, timeout: Option<Duration>) -> Self {
        match timeout {
            None => Deadline::Never,
            Some(t) => match clock.now() {
                Some(now) => now.checked_add(t).map_or(Deadline::Never, Deadline::At),
                None => Deadline::Unknown,
            },
        }
    }

    /// The timeout for the next sleep, or `None` when the deadline passed.
    fn remaining(self, clock: &impl Clock) -> Option<Option<Duration>> {
        match self {
            Deadline::Never => Some(None),
            Deadline::At(at) => {
                let left = at.checked_sub(clock.now()?)?;
                (!left.is_zero()).then_some(Some(left))
            }
            Deadline::Unknown => None,
        }
    }
}

/// The wait queue of `memory.atomic.wait*` / `notify` (see the
/// [module docs](self)). One queue serves any number of memories.
pub struct WaitQueue<F: FutexLike, C: Clock> {
    buckets: [Bucket; BUCKETS],
    /// The parking words; a waiter's is picked by its node's address.
    slots: [AtomicU32; SLOTS],
    futex: F,
    clock: C,
    /// The cap of the monitor phase in nanoseconds (0: no phase).
    spin_limit_ns: core::sync::atomic::AtomicU32,
}

impl<F: FutexLike, C: Clock> WaitQueue<F, C> {
    /// An empty queue whose waiters park through `futex` and time out on
    /// `clock`.
    #[cfg(not(loom))]
    pub const fn new(futex: F, clock: C) -> Self {
        WaitQueue {
            buckets: [const { Bucket::new() }; BUCKETS],
            slots: [const { AtomicU32::new(0) }; SLOTS],
            futex,
            clock,
            spin_limit_ns: core::sync::atomic::AtomicU32::new(monitor::DEFAULT_LIMIT_NS),
        }
    }

    /// An empty queue whose waiters park through `futex` and time out on
    /// `clock`.
    #[cfg(loom)]
    pub fn new(futex: F, clock: C) -> Self {
        WaitQueue {
            buckets: core::array::from_fn(|_| Bucket::new()),
            slots: core::array::from_fn(|_| AtomicU32::new(0)),
            futex,
            clock,
            spin_limit_ns: core::sync::atomic::AtomicU32::new(monitor::DEFAULT_LIMIT_NS),
        }
    }

    fn bucket(&self, key: usize) -> &Bucket {
        &self.buckets[bucket_index(key)]
    }

    /// The parking word of the node at `node`: computed from the address
    /// alone, so a notifier can find it after the node is gone.
    fn slot(&self, node: *const Node) -> &AtomicU32 {
        &self.slots[hash(node as usize, SLOTS)]
    }

    /// `memory.atomic.wait32`: if `*word == expected` (checked atomically
    /// with joining the queue), sleeps until a [`notify`](Self::notify) of
    /// `word`'s address counts this waiter ([`WaitResult::Ok`]) or
    /// `timeout` passes ([`WaitResult::TimedOut`]; `None`: never). A
    /// mismatch returns [`WaitResult::NotEqual`] with no system call, and
    /// so does a zero timeout (`TimedOut`).
    pub fn wait32(&self, word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> WaitResult {
        self.wait32_unless_closed(word, expected, timeout, || true)
    }

    /// [`wait32`](Self::wait32) that can be cancelled: if `open()` is
    /// false when the waiter joins the queue (it is called under the
    /// bucket lock), the wait returns [`WaitResult::Cancelled`] without
    /// sleeping; and [`cancel_range`](Self::cancel_range) of a range that
    /// holds `word` ends a sleeping wait with `Cancelled`.
    ///
    /// `open` must read its condition with a `SeqCst` load, and whoever
    /// closes it must store with `SeqCst` and then call `cancel_range`:
    /// then every waiter either sees the condition closed or is found by
    /// the cancellation (the same Dekker pair as notify's fast path).
    pub fn wait32_unless_closed(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
        open: impl Fn() -> bool,
    ) -> WaitResult {
        let key = word as *const AtomicU32 as usize;
        self.wait(
            key,
            || word.load(Ordering::SeqCst) == expected,
            open,
            timeout,
        )
    }

    /// `memory.atomic.wait64`: as [`wait32`](Self::wait32) for a 64-bit
    /// word. Waiters of both widths on one address share one FIFO queue.
    pub fn wait64(&self, word: &AtomicU64, expected: u64, timeout: Option<Duration>) -> WaitResult {
        self.wait64_unless_closed(word, expected, timeout, || true)
    }

    /// [`wait64`](Self::wait64) that can be cancelled, as
    /// [`wait32_unless_closed`](Self::wait32_unless_closed).
    pub fn wait64_unless_closed(
        &self,
        word: &AtomicU64,
        expected: u64,
        timeout: Option<Duration>,
        open: impl Fn() -> bool,
    ) -> WaitResult {
        let key = word as *const AtomicU64 as usize;
        self.wait(
            key,
            || word.load(Ordering::SeqCst) == expected,
            open,
            timeout,
        )
    }

    fn wait(
        &self,
        key: usize,
        matches: impl Fn() -> bool,
        open: impl Fn() -> bool,
        timeout: Option<Duration>,
    ) -> WaitResult {
        // Early check: a mismatch costs no lock.
        if !matches() {
            return WaitResult::NotEqual;
        }
        if timeout == Some(Duration::ZERO) {
            return WaitResult::TimedOut;
        }
        let deadline = Deadline::new(&self.clock, timeout);
        let bucket = self.bucket(key);
        let node = Node::new(key);
        let parked = {
            let mut locked = bucket.lock();
            bucket.waiters.fetch_add(1, Ordering::SeqCst);
            sync::dekker_fence();
            if !open() {
                bucket.waiters.fetch_sub(1, Ordering::Relaxed);
                return WaitResult::Cancelled;
            }
            if !matches() {
                bucket.waiters.fetch_sub(1, Ordering::Relaxed);
                return WaitResult::NotEqual;
            }
            // SAFETY: `node` lives in this frame, and `parked` (dropped
            // before it, also on unwind) unlinks it or waits for `DONE`.
            unsafe { locked.push_back(&node) };
            Parked {
                bucket,
                node: &node,
                slot: self.slot(&node),
                futex: &self.futex,
            }
        };
        let mut next = timeout; // the deadline was fixed just before
        if let Some((state, spent)) = self.monitor_phase(bucket, &node, timeout) {
            if state >= DONE {
                return parked.finish();
            }
            // The phase counts against the timeout.
            if let Some(t) = timeout {
                match t.checked_sub(spent) {
                    Some(left) if !left.is_zero() => next = Some(left),
                    _ => return parked.cancel(),
                }
            }
        }
        loop {
            match parked.park(next) {
                (WAITING, Some(WaitOutcome::TimedOut)) => return parked.cancel(),
                (WAITING, _) => {}
                // Taken by a notifier: `finish` waits for the final state.
                _ => return parked.finish(),
            }
            // A spurious return (a shared slot, or a wake meant for an
            // earlier park): sleep for what is left.
            match deadline.remaining(&self.clock) {
                Some(left) => next = left,
                None => return parked.cancel(),
            }
        }
    }

    /// The monitor phase of a queued `node` (module docs): watches its
    /// state for at most the bucket's budget and `timeout`, and adapts the
    /// budget. Returns the last state seen and the time spent, or `None`
    /// when there was no phase.
    fn monitor_phase(
        &self,
        bucket: &Bucket,
        node: &Node,
        timeout: Option<Duration>,
    ) -> Option<(u32, Duration)> {
        let limit_ns = self
            .spin_limit_ns
            .load(core::sync::atomic::Ordering::Relaxed);
        let budget = bucket.spin.budget(limit_ns)?;
        let phase = timeout.map_or(budget, |t| t.min(budget));
        let (state, spent) = monitor::watch(&node.state, phase)?;
        bucket.spin.record(state >= DONE, limit_ns);
        Some((state, spent))
    }

    /// Caps the monitor phase of every later wait at `limit` (whole
    /// nanoseconds, at most [`MAX_SPIN_LIMIT`]; [`Duration::ZERO`] turns the
    /// phase off) and returns the previous cap. The default is
    /// [`DEFAULT_SPIN_LIMIT`] where the platform has a monitor phase (Linux
    /// and bare metal, on x86_64 and aarch64) and zero elsewhere, where the
    /// cap stays zero. Results, order and counts do not depend on it: it
    /// only trades CPU time for wake-up latency.
    pub fn set_spin_limit(&self, limit: Duration) -> Duration {
        let ns = if monitor::AVAILABLE {
            limit.min(MAX_SPIN_LIMIT).as_nanos() as u32
        } else {
            0
        };
        let old = self
            .spin_limit_ns
            .swap(ns, core::sync::atomic::Ordering::Relaxed);
        Duration::from_nanos(old.into())
    }

    /// The cap of the monitor phase (see
    /// [`set_spin_limit`](Self::set_spin_limit)).
    pub fn spin_limit(&self) -> Duration {
        Duration::from_nanos(
            self.spin_limit_ns
                .load(core::sync::atomic::Ordering::Relaxed)
                .into(),
        )
    }

    /// The adaptive budget of the monitor phase of the bucket of host
    /// address `addr`, before the cap (for tests and diagnostics).
    pub fn spin_budget(&self, addr: usize) -> Duration {
        let ns = self
            .bucket(addr)
            .spin
            .budget_ns
            .load(core::sync::atomic::Ordering::Relaxed);
        Duration::from_nanos(ns.into())
    }

    /// `memory.atomic.notify`: wakes up to `count` waiters on the word at
    /// host address `addr`, oldest first, and returns exactly how many it
    /// woke; each of them returns [`WaitResult::Ok`]. When no thread waits
    /// on `addr`'s bucket this is one load: no lock, no system call (see
    /// the module docs for the memory ordering this relies on).
    #[inline]
    pub fn notify(&self, addr: usize, count: u32) -> u32 {
        if count == 0 {
            return 0;
        }
        let bucket = self.bucket(addr);
        sync::dekker_fence();
        if bucket.waiters.load(Ordering::SeqCst) == 0 {
            return 0;
        }
        self.notify_queued(bucket, addr, count)
    }

    /// Whether a thread may be waiting on the word at host address `addr`:
    /// the fast path of [`notify`](Self::notify) on its own (one load; a
    /// `false` is final for a notify that follows a `SeqCst` write of the
    /// word, as in `notify`).
    #[inline]
    pub fn may_have_waiters(&self, addr: usize) -> bool {
        sync::dekker_fence();
        self.bucket(addr).waiters.load(Ordering::SeqCst) != 0
    }

    /// The rest of [`notify`](Self::notify), when `bucket` has waiters:
    /// out of line, so that the fast path inlines into its callers.
    #[inline(never)]
    fn notify_queued(&self, bucket: &Bucket, addr: usize, count: u32) -> u32 {
        let (chain, taken) = bucket.lock().take(addr..addr + 1, count);
        self.release(chain, DONE);
        taken
    }

    /// Ends the wait of every thread queued on an address in `keys` with
    /// [`WaitResult::Cancelled`] and returns how many there were. For a
    /// memory that is going away: its owner first closes the `open`
    /// condition of [`wait32_unless_closed`](Self::wait32_unless_closed)
    /// (a `SeqCst` store), then calls this, so no waiter of the range is
    /// left behind. Takes each bucket's lock that has waiters.
    pub fn cancel_range(&self, keys: core::ops::Range<usize>) -> u32 {
        let mut cancelled = 0;
        for bucket in &self.buckets {
            sync::dekker_fence();
            if bucket.waiters.load(Ordering::SeqCst) == 0 {
                continue;
            }
            let (chain, taken) = bucket.lock().take(keys.clone(), u32::MAX);
            self.release(chain, CANCELLED);
            cancelled += taken;
        }
        cancelled
    }

    /// Gives every node of a chain taken by [`Locked::take`] its final
    /// state `last` (`DONE` or `CANCELLED`) and wakes its waiter.
    fn release(&self, mut cur: *const Node, last: u32) {
        while !cur.is_null() {
            // SAFETY: a node this call took stays live until it stores
            // `DONE`, and only this call touches its links now.
            let next = unsafe { with_links(cur, |l| l.next) };
            // SAFETY: as above.
            let node = unsafe { &*cur };
            // The last access to the node: from here its waiter may return
            // and the node vanish. The slot belongs to the queue.
            let old = node.state.swap(last, Ordering::AcqRel);
            if old & PARKED != 0 {
                let slot = self.slot(cur);
                slot.fetch_add(1, Ordering::Release);
                // Every sleeper of the slot: others that share it re-check
                // their state and sleep again. An error or a wake that
                // finds nobody asleep loses nothing (the waiter re-checks
                // before every sleep).
                let _ = self.futex.wake(slot, u32::MAX);
            }
            cur = next;
        }
    }

    /// Forgets every queued waiter and releases every bucket lock, for the
    /// child of a `fork()`: the child has only the thread that forked, so
    /// the nodes of the parent's other threads (on stacks that no thread of
    /// the child runs) must not be counted or woken, and a lock that one of
    /// them held would never be released.
    ///
    /// # Safety
    /// Call it only in the child of a `fork()`, before the child uses the
    /// queue and while it still has a single thread. The thread that forked
    /// was not inside a call on this queue (it was calling `fork`), so no
    /// node of a thread that still exists is forgotten.
    #[cfg(not(loom))]
    pub unsafe fn reset_after_fork(&self) {
        for bucket in &self.buckets {
            bucket.list.with_mut(|list| {
                // SAFETY: the child has one thread, which is here (caller):
                // nothing else accesses the list.
                let list = unsafe { &mut *list };
                list.head = ptr::null();
                list.tail = ptr::null();
            });
            bucket.waiters.store(0, Ordering::SeqCst);
            bucket.lock.unlock();
        }
    }

    /// How many threads wait on the word at host address `addr` (takes the
    /// bucket lock; for tests and diagnostics).
    pub fn waiting(&self, addr: usize) -> usize {
        let mut locked = self.bucket(addr).lock();
        let mut cur = locked.with_list(|list| list.head);
        let mut n = 0;
        while !cur.is_null() {
            // SAFETY: `cur` is in the list, hence live; the lock is held.
            let node = unsafe { &*cur };
            n += usize::from(node.key == addr);
            // SAFETY: as above.
            cur = unsafe { with_links(cur, |l| l.next) };
        }
        n
    }

    /// The futex the waiters park on.
    pub fn futex(&self) -> &F {
        &self.futex
    }
}

/// The queue on a `std` futex (`Mutex` + `Condvar`) and `std`'s clock: no
/// system call of ours, so these run under Miri (`scripts/miri`), which
/// checks the node protocol for use-after-free of stack nodes and for data
/// races on the links, over many thread schedules. The futex wakes every
/// sleeper of any word, so waiters also see spurious returns.
#[cfg(all(test, feature = "std", not(loom)))]
mod tests {
    use super::*;
    use std::boxed::Box;
    use std::sync::{Condvar, Mutex};
    use std::thread;
    use std::time::Instant;
    use std::vec::Vec;

    /// A futex on `std`'s `Mutex` + `Condvar`: check and sleep are atomic
    /// with respect to `wake` (both hold the mutex).
    struct StdFutex {
        lock: Mutex<()>,
        cv: Condvar,
    }

    impl FutexLike for StdFutex {
        fn wait(
            &self,
            word: &AtomicU32,
            expected: u32,
            timeout: Option<Duration>,
        ) -> crate::errno::Result<WaitOutcome> {
            let guard = self.lock.lock().unwrap();
            if word.load(Ordering::SeqCst) != expected {
                return Ok(WaitOutcome::Mismatch);
            }
            Ok(match timeout {
                None => {
                    drop(self.cv.wait(guard).unwrap());
                    WaitOutcome::Woken
                }
                Some(t) => {
                    let (_guard, r) = self.cv.wait_timeout(guard, t).unwrap();
                    if r.timed_out() {
                        WaitOutcome::TimedOut
                    } else {
                        WaitOutcome::Woken
                    }
                }
            })
        }

        fn wake(&self, _word: &AtomicU32, _n: u32) -> crate::errno::Result<u32> {
            let _guard = self.lock.lock().unwrap();
            self.cv.notify_all();
            Ok(0)
        }

        fn wake_count_is_exact(&self) -> bool {
            false
        }
    }

    struct StdClock(Instant);

    impl Clock for StdClock {
        fn now(&self) -> Option<Duration> {
            Some(self.0.elapsed())
        }
    }

    type Queue = WaitQueue<StdFutex, StdClock>;

    fn queue() -> Box<Queue> {
        Box::new(WaitQueue::new(
            StdFutex {
                lock: Mutex::new(()),
                cv: Condvar::new(),
            },
            StdClock(Instant::now()),
        ))
    }

    fn addr<T>(word: &T) -> usize {
        word as *const T as usize
    }

    /// Spins (yielding) until `n` threads wait on `word`.
    fn until_waiting(q: &Queue, word: usize, n: usize) {
        while q.waiting(word) < n {
            thread::yield_now();
        }
    }

    #[test]
    fn mismatch_and_zero_timeout_need_no_queue() {
        let q = &*queue();
        let word = AtomicU32::new(7);
        assert_eq!(q.wait32(&word, 8, None), WaitResult::NotEqual);
        assert_eq!(
            q.wait32(&word, 7, Some(Duration::ZERO)),
            WaitResult::TimedOut
        );
        assert_eq!(q.notify(addr(&word), 1), 0);
        assert_eq!(q.waiting(addr(&word)), 0);
    }

    #[test]
    fn timed_wait_times_out_and_leaves_the_queue() {
        let q = &*queue();
        let word = AtomicU32::new(0);
        let r = q.wait32(&word, 0, Some(Duration::from_millis(1)));
        assert_eq!(r, WaitResult::TimedOut);
        assert_eq!(q.waiting(addr(&word)), 0);
        assert_eq!(q.notify(addr(&word), 1), 0);
    }

    /// Three waiters (32- and 64-bit on one address) queued in a known
    /// order; `notify(1)` three times wakes them oldest first, each
    /// count exact.
    #[test]
    fn fifo_across_widths() {
        let q = &*queue();
        let word = AtomicU64::new(0);
        let key = addr(&word);
        // SAFETY: the low half of a live, 8-byte aligned AtomicU64, only
        // accessed atomically (little-endian: the same Wasm address).
        let low = unsafe { AtomicU32::from_ptr(word.as_ptr().cast()) };
        let order = Mutex::new(Vec::new());
        thread::scope(|s| {
            for i in 0..3u32 {
                let (word, order) = (&word, &order);
                s.spawn(move || {
                    let r = if i == 1 {
                        q.wait32(low, 0, None)
                    } else {
                        q.wait64(word, 0, None)
                    };
                    assert_eq!(r, WaitResult::Ok);
                    order.lock().unwrap().push(i);
                });
                until_waiting(q, key, i as usize + 1);
            }
            for woken in 1..=3usize {
                assert_eq!(q.notify(key, 1), 1);
                while order.lock().unwrap().len() < woken {
                    thread::yield_now();
                }
            }
        });
        assert_eq!(*order.lock().unwrap(), [0, 1, 2]);
        assert_eq!(q.waiting(key), 0);
    }

    /// Waiters on a neighbour address stay queued through notifies of
    /// another address, and a notify with count 0 wakes nobody.
    #[test]
    fn notify_wakes_only_its_address() {
        let q = &*queue();
        let words = [AtomicU32::new(0), AtomicU32::new(0)];
        thread::scope(|s| {
            let a = s.spawn(|| q.wait32(&words[0], 0, None));
            let b = s.spawn(|| q.wait32(&words[1], 0, None));
            until_waiting(q, addr(&words[0]), 1);
            until_waiting(q, addr(&words[1]), 1);
            assert_eq!(q.notify(addr(&words[0]), 0), 0);
            assert_eq!(q.notify(addr(&words[1]), 5), 1);
            assert_eq!(b.join().unwrap(), WaitResult::Ok);
            assert_eq!(q.waiting(addr(&words[0])), 1);
            assert_eq!(q.notify(addr(&words[0]), u32::MAX), 1);
            assert_eq!(a.join().unwrap(), WaitResult::Ok);
        });
    }

    /// The adaptive budget: halved by every phase that gives up, so it
    /// counts as zero (below [`SPIN_MIN`]) after five; then one wait in 64
    /// probes with the whole cap, one in 128 after a failed probe, ...;
    /// a probe that succeeds restores the budget (doubling from
    /// [`SPIN_MIN`]) and the interval; no phase at all under a zero cap.
    #[test]
    fn spin_budget_adapts() {
        let limit = DEFAULT_SPIN_LIMIT.as_nanos() as u32;
        let spin = Spin::new();
        assert_eq!(spin.budget(limit), Some(DEFAULT_SPIN_LIMIT));
        assert_eq!(spin.budget(0), None);
        let mut failures = 0;
        while spin.budget_ns.load(core::sync::atomic::Ordering::Relaxed) >= SPIN_MIN_NS {
            spin.record(false, limit);
            failures += 1;
        }
        assert_eq!(failures, 5); // 20 µs -> 625 ns
        let probes = |waits| {
            (0..waits)
                .filter_map(|_| spin.budget(limit))
                .collect::<Vec<_>>()
        };
        assert_eq!(probes(4 * SPIN_PROBE_EVERY_MIN), [DEFAULT_SPIN_LIMIT; 4]);
        spin.record(false, limit); // a probe gave up: one in 128 now
        assert_eq!(probes(4 * SPIN_PROBE_EVERY_MIN), [DEFAULT_SPIN_LIMIT; 2]);
        for _ in 0..10 {
            spin.record(false, limit);
        }
        assert_eq!(probes(SPIN_PROBE_EVERY_MAX).len(), 1, "at most one in 4096");
        spin.record(true, limit);
        assert_eq!(spin.budget(limit), Some(2 * SPIN_MIN));
        for _ in 0..10 {
            spin.record(true, limit);
        }
        assert_eq!(spin.budget(limit), Some(DEFAULT_SPIN_LIMIT));
        // A lower cap bounds the next phase at once, also below SPIN_MIN.
        assert_eq!(spin.budget(1_000), Some(Duration::from_micros(1)));
        assert_eq!(spin.budget(300), Some(Duration::from_nanos(300)));
        // The probe interval came back to 64 with the successful probe.
        for _ in 0..failures {
            spin.record(false, limit);
        }
        assert_eq!(probes(4 * SPIN_PROBE_EVERY_MIN).len(), 4);
    }

    /// Timed and untimed waiters against notifiers, several rounds: every
    /// notify's count equals the waiters that returned `Ok` for it (summed),
    /// and the queue ends empty. With the monitor phase on, then off.
    #[test]
    fn counts_are_conserved_under_races() {
        for spin in [DEFAULT_SPIN_LIMIT, Duration::ZERO] {
            counts_are_conserved(spin);
        }
    }

    fn counts_are_conserved(spin: Duration) {
        let q = &*queue();
        q.set_spin_limit(spin);
        let word = AtomicU32::new(0);
        let rounds = if cfg!(miri) { 3 } else { 200 };
        let mut ok = 0;
        let mut counted = 0;
        thread::scope(|s| {
            let waiters: Vec<_> = (0..3)
                .map(|i| {
                    let word = &word;
                    s.spawn(move || {
                        let timeout = (i == 0).then_some(Duration::from_micros(50));
                        (0..rounds)
                            .filter(|_| q.wait32(word, 0, timeout) == WaitResult::Ok)
                            .count()
                    })
                })
                .collect();
            // Notify until every waiter has finished its rounds.
            while waiters.iter().any(|t| !t.is_finished()) {
                counted += q.notify(addr(&word), 2) as usize;
                thread::yield_now();
            }
            ok = waiters
                .into_iter()
                .map(|t| t.join().unwrap())
                .sum::<usize>();
        });
        assert_eq!(ok, counted);
        assert_eq!(q.waiting(addr(&word)), 0);
    }
}
