//! [`QnxFutex`]: the futex contract over QNX kernel mutexes and condition
//! variables (`SyncMutexLock`/`Unlock`, `SyncCondvarWait`/`Signal`), with
//! `TimerTimeout` for deadlines. QNX has no address-keyed wait queue, so the
//! word's address picks one of [`SLOTS`] slots of a static table, each a
//! kernel mutex, a kernel condition variable and a little bookkeeping.
//!
//! # Wait
//! 1. A mismatch or a zero timeout returns at once (no kernel call).
//! 2. The deadline is `ClockTime(CLOCK_MONOTONIC) + timeout`, fixed once.
//! 3. Lock the slot mutex; register as a waiter; `fence(SeqCst)`; re-check
//!    the word. A mismatch now returns `Mismatch`.
//! 4. `TimerTimeout(CLOCK_MONOTONIC, TIMER_ABSTIME | _NTO_TIMEOUT_CONDVAR,
//!    NULL, &deadline, NULL)` (only with a deadline), then
//!    `SyncCondvarWait(cond, mutex)`, which releases the mutex and blocks in
//!    one kernel call, and owns the mutex again when it returns, whatever
//!    the result (6.4 `ker_sync.c`: `_NTO_TF_ACQUIRE_MUTEX`, "POSIX says
//!    that we should release and re-acquire the mutex in the timeout case").
//! 5. `EOK` is `Woken`, `ETIMEDOUT` is `TimedOut`; `EINTR` goes back to
//!    step 3 and arms the *same* absolute deadline, so a signal never
//!    extends the wait. Deregister, unlock.
//!
//! # Wake
//! `fence(SeqCst)`, then if the slot has no registered waiter, return 0 with
//! no kernel call. Otherwise lock the slot mutex and, while holding it:
//! if every waiter of the slot waits on this word and `n` is smaller than
//! their number, `SyncCondvarSignal(cond, 0)` `n` times (each wakes one);
//! otherwise `SyncCondvarSignal(cond, 1)`. Unlock.
//!
//! # No lost wake-ups
//! The check in step 3 happens under the slot mutex, and the waker signals
//! under it, so a waker that changed the word either is seen by the check or
//! signals after the waiter sleeps. The waker's no-waiter shortcut reads the
//! counter without the mutex; the waiter increments it *before* its
//! `SeqCst` fence and check, the waker changes the word before its `SeqCst`
//! fence and read, so either the waiter sees the new word or the waker sees
//! the waiter (the usual store-fence-load pairing).
//!
//! # Counts are not exact
//! `wake` returns an upper bound ([`wake_count_is_exact`] is
//! false): a waiter that timed out or was already signalled stays counted
//! until it re-acquires the mutex, and a slot shared by waiters on
//! different words is woken with a broadcast; the waiters on other words see
//! a spurious `Woken` (which the contract allows) and are not counted.
//!
//! # Always in the kernel: no owner-id convention
//! libc's `pthread_mutex_lock` first tries `cmpxchg(&__owner, 0,
//! LIBC_TLS()->__owner)` in user space and enters the kernel only on
//! contention; unlock swaps `__owner` to 0 and enters the kernel only when
//! `_NTO_SYNC_WAITING` was set (QNX 6.4 libc `pthread_mutex_*.c`). This
//! backend never writes `__owner`: it always calls `SyncMutexLock` and
//! `SyncMutexUnlock`, and the kernel itself writes and checks the owner id
//! (`SYNC_OWNER(act)`, 6.4 `ker_sync.c`: `sync_mutex_lock` takes a free
//! mutex, `sync_mutex_unlock` releases it "if I own it"). So it relies on
//! no TLS layout and no owner encoding, at the price of two kernel calls
//! per wait or contended wake that libc would sometimes skip.
//!
//! # Creating the table
//! The kernel objects are made with `SyncTypeCreate` (default attributes:
//! priority-inheriting mutex; condition variable with `CLOCK_REALTIME`,
//! which only libc's `pthread_cond_timedwait` reads: `TimerTimeout` here
//! names `CLOCK_MONOTONIC` itself). They are all created in
//! [`QnxFutex::new`], once per process, before any thread can wait on
//! them; a failure destroys the ones already made (`SyncDestroy`, best
//! effort) so a later `new` can retry. A thread that calls `new` while
//! another creates the table sleeps 1 ms at a time
//! (`TimerTimeout(_NTO_TIMEOUT_NANOSLEEP)`) instead of spinning, so a
//! higher-priority thread cannot starve a lower-priority creator on one CPU.
//! The objects live as long as the process.
//!
//! # Limits
//! `SyncCondvarWait` is a cancellation point: a thread cancelled while
//! waiting here dies holding a slot mutex (there is no cleanup handler), so
//! threads blocked in `wait` must not be cancelled. The table is not
//! re-created in a child after `fork`. **Unverified:** none of this has run
//! on QNX; the kernel behaviour cited is from the 6.4 kernel source and the
//! 7.x documentation.
//!
//! Constants: SDP 7.1 `sys/states.h`, `sys/neutrino.h`, `sys/target_nto.h`
//! (Spitzbube/qnx-sdp 8d745006).
//!
//! [`wake_count_is_exact`]: crate::futex::FutexLike::wake_count_is_exact

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use crate::errno::{Errno, Result};
use crate::futex::WaitOutcome;
use crate::os::qnx::errno;

/// `STATE_NANOSLEEP` (`sys/states.h`).
pub const STATE_NANOSLEEP: u32 = 12;
/// `STATE_CONDVAR` (`sys/states.h`).
pub const STATE_CONDVAR: u32 = 14;
/// `_NTO_TIMEOUT_NANOSLEEP` = `1 << STATE_NANOSLEEP`.
pub const NTO_TIMEOUT_NANOSLEEP: u32 = 1 << STATE_NANOSLEEP;
/// `_NTO_TIMEOUT_CONDVAR` = `1 << STATE_CONDVAR`.
pub const NTO_TIMEOUT_CONDVAR: u32 = 1 << STATE_CONDVAR;
/// `_NTO_SYNC_MUTEX_FREE`: the `SyncTypeCreate` type of a mutex.
pub const NTO_SYNC_MUTEX_FREE: u32 = 0;
/// `_NTO_SYNC_COND` (-5): the `SyncTypeCreate` type of a condvar.
pub const NTO_SYNC_COND: u32 = 0xffff_fffb;

/// `sync_t` (`struct _sync`, 8 bytes): `__count` (a union with `__fd` and
/// `__clockid`), then `__owner`. Only the kernel reads or writes it.
#[repr(C)]
#[derive(Debug)]
pub struct SyncT {
    count: AtomicU32,
    owner: AtomicU32,
}

const _: () = {
    assert!(size_of::<SyncT>() == 8);
    assert!(core::mem::offset_of!(SyncT, count) == 0);
    assert!(core::mem::offset_of!(SyncT, owner) == 4);
};

impl SyncT {
    const fn zeroed() -> Self {
        Self {
            count: AtomicU32::new(0),
            owner: AtomicU32::new(0),
        }
    }
}

/// Number of slots in the table (a power of two).
pub const SLOTS: usize = 64;
const SLOT_BITS: u32 = SLOTS.trailing_zeros();

/// `Slot::tag` when no waiter is registered.
const TAG_NONE: usize = 0;
/// `Slot::tag` when waiters on different words share the slot. Word
/// addresses are 4-aligned and non-zero, so neither value is an address.
const TAG_MIXED: usize = usize::MAX;

/// One slot: the kernel objects and the bookkeeping they protect.
#[repr(C, align(64))]
#[derive(Debug)]
struct Slot {
    mutex: SyncT,
    cond: SyncT,
    /// Registered waiters. Changed only under `mutex`; read without it by
    /// the wake shortcut (see the module docs).
    waiters: AtomicU32,
    /// The word all registered waiters wait on, [`TAG_NONE`] or
    /// [`TAG_MIXED`]. Read and written only under `mutex`.
    tag: AtomicUsize,
}

impl Slot {
    const fn new() -> Self {
        Self {
            mutex: SyncT::zeroed(),
            cond: SyncT::zeroed(),
            waiters: AtomicU32::new(0),
            tag: AtomicUsize::new(TAG_NONE),
        }
    }

    /// Counts the caller as a waiter on `addr`. Call under `mutex`.
    fn register(&self, addr: usize) {
        let before = self.waiters.load(Ordering::Relaxed);
        let tag = tag_after_register(before, self.tag.load(Ordering::Relaxed), addr);
        self.tag.store(tag, Ordering::Relaxed);
        self.waiters.store(before + 1, Ordering::Relaxed);
    }

    /// Undoes [`register`](Self::register). Call under `mutex`.
    fn deregister(&self) {
        let after = self.waiters.load(Ordering::Relaxed) - 1;
        self.waiters.store(after, Ordering::Relaxed);
        if after == 0 {
            self.tag.store(TAG_NONE, Ordering::Relaxed);
        }
    }
}

/// The slots; their kernel objects are created by [`QnxFutex::new`].
static TABLE: [Slot; SLOTS] = [const { Slot::new() }; SLOTS];

/// The slot of the word at `addr`: Fibonacci hashing of the word index.
pub fn slot_index(addr: usize) -> usize {
    let word = (addr as u64) >> 2;
    (word.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - SLOT_BITS)) as usize
}

/// The slot's tag after a waiter on `addr` registers, given the number of
/// waiters and the tag before.
pub fn tag_after_register(waiters_before: u32, tag: usize, addr: usize) -> usize {
    if waiters_before == 0 || tag == addr {
        addr
    } else {
        TAG_MIXED
    }
}

/// What a wake does under the slot mutex.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WakePlan {
    /// No waiter on this word: no kernel call.
    Nothing,
    /// `SyncCondvarSignal(cond, 0)` this many times.
    SignalOne(u32),
    /// `SyncCondvarSignal(cond, 1)`.
    Broadcast,
}

/// Decides a wake of up to `n` waiters on `addr`, given the slot's waiter
/// count and tag; also returns the count to report (an upper bound).
pub fn plan_wake(waiters: u32, tag: usize, addr: usize, n: u32) -> (WakePlan, u32) {
    if n == 0 || waiters == 0 {
        (WakePlan::Nothing, 0)
    } else if tag == addr {
        // Every waiter of the slot waits on this word.
        if n < waiters {
            (WakePlan::SignalOne(n), n)
        } else {
            (WakePlan::Broadcast, waiters)
        }
    } else if tag == TAG_MIXED {
        // Signalling one could pick a waiter on another word and lose this
        // wake-up; wake them all (the others see a spurious `Woken`).
        (WakePlan::Broadcast, n.min(waiters))
    } else {
        // All waiters of the slot wait on some other word.
        (WakePlan::Nothing, 0)
    }
}

/// What a wait loop does after `SyncCondvarWait` (or the `TimerTimeout`
/// before it) returned `r`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AfterWait {
    /// Return this outcome.
    Done(WaitOutcome),
    /// Interrupted by a signal: check the word again and wait again, until
    /// the same deadline.
    Retry,
    /// Return this error.
    Fail(Errno),
}

/// Classifies the result of the timed condvar wait (QNX error numbers).
pub fn after_wait(r: Result<()>) -> AfterWait {
    match r {
        Ok(()) => AfterWait::Done(WaitOutcome::Woken),
        Err(e) if e.raw() == errno::ETIMEDOUT => AfterWait::Done(WaitOutcome::TimedOut),
        Err(e) if e.raw() == errno::EINTR => AfterWait::Retry,
        Err(e) => AfterWait::Fail(e),
    }
}

/// `TimerTimeout` flags for a wait until an absolute deadline.
pub const WAIT_TIMEOUT_FLAGS: u32 = super::time::TIMER_ABSTIME | NTO_TIMEOUT_CONDVAR;

/// How long a thread sleeps while another creates the table.
const INIT_POLL_NS: u64 = 1_000_000;

const TABLE_UNINIT: u32 = 0;
const TABLE_BUSY: u32 = 1;
const TABLE_READY: u32 = 2;
static TABLE_STATE: AtomicU32 = AtomicU32::new(TABLE_UNINIT);

#[cfg(wrt_os = "qnx")]
pub use self::backend::*;

/// The kernel side; it traps, so it exists only when built for QNX.
#[cfg(wrt_os = "qnx")]
mod backend {
    use core::sync::atomic::{AtomicU32, Ordering, fence};
    use core::time::Duration;

    use super::{
        AfterWait, INIT_POLL_NS, NTO_SYNC_COND, NTO_SYNC_MUTEX_FREE, NTO_TIMEOUT_NANOSLEEP, Slot,
        TABLE, TABLE_BUSY, TABLE_READY, TABLE_STATE, TABLE_UNINIT, WAIT_TIMEOUT_FLAGS, WakePlan,
        after_wait, plan_wake, slot_index,
    };
    use crate::errno::Result;
    use crate::futex::{FutexLike, WaitOutcome};
    use crate::os::qnx::errno;
    use crate::os::qnx::kercall::{
        sync_condvar_signal, sync_condvar_wait, sync_destroy, sync_mutex_lock, sync_mutex_unlock,
        sync_type_create, timer_timeout,
    };
    use crate::os::qnx::time::{self, CLOCK_MONOTONIC};

    impl Slot {
        // The bookkeeping under the mutex is Relaxed atomics. The kernel's
        // lock hand-off orders memory itself, but that is its internals: the
        // fences below (with the kernel's writes of the mutex's owner word,
        // which is atomic storage) make the ordering explicit here.

        /// `SyncMutexLock`, retried after `EINTR`.
        fn lock(&self) -> Result<()> {
            loop {
                // SAFETY: the table's kernel objects exist (QnxFutex::new)
                // and live as long as the process.
                match unsafe { sync_mutex_lock(&self.mutex) } {
                    Err(e) if e.raw() == errno::EINTR => continue,
                    r => {
                        fence(Ordering::Acquire);
                        return r;
                    }
                }
            }
        }

        fn unlock(&self) -> Result<()> {
            fence(Ordering::Release);
            // SAFETY: as in `lock`; the caller owns the mutex.
            unsafe { sync_mutex_unlock(&self.mutex) }
        }

        /// Arms the deadline (if any), then waits on the condvar. Call
        /// holding the mutex; it is held again on return.
        fn wait(&self, deadline: Option<u64>) -> Result<()> {
            if let Some(deadline) = deadline {
                // Armed right before the wait: no kernel call in between.
                timer_timeout(CLOCK_MONOTONIC, WAIT_TIMEOUT_FLAGS, &deadline)?;
            }
            // The wait releases and re-acquires the mutex.
            fence(Ordering::Release);
            // SAFETY: both objects exist; the caller owns the mutex.
            let r = unsafe { sync_condvar_wait(&self.cond, &self.mutex) };
            fence(Ordering::Acquire);
            r
        }

        fn signal(&self, all: bool) -> Result<()> {
            // SAFETY: the condvar exists (QnxFutex::new).
            unsafe { sync_condvar_signal(&self.cond, all) }
        }

        /// Creates both kernel objects; on failure none is left.
        ///
        /// # Safety
        /// No other thread may use the slot during the call.
        unsafe fn create(&self) -> Result<()> {
            // SAFETY: static storage, never moved; exclusive (caller).
            unsafe { sync_type_create(NTO_SYNC_MUTEX_FREE, &self.mutex)? };
            // SAFETY: as above.
            if let Err(e) = unsafe { sync_type_create(NTO_SYNC_COND, &self.cond) } {
                // SAFETY: the mutex was created just above; nobody uses it.
                // Best effort: the creation error is the one reported.
                let _ = unsafe { sync_destroy(&self.mutex) };
                return Err(e);
            }
            Ok(())
        }

        /// Destroys both kernel objects (best effort).
        ///
        /// # Safety
        /// The objects must exist and no other thread may use them.
        unsafe fn destroy(&self) {
            // SAFETY: caller's contract. Errors are ignored: this only runs
            // to undo a failed table creation, whose error is reported.
            let _ = unsafe { sync_destroy(&self.cond) };
            // SAFETY: as above.
            let _ = unsafe { sync_destroy(&self.mutex) };
        }
    }

    /// Creates every slot's kernel objects, or none.
    fn create_table() -> Result<()> {
        for (i, slot) in TABLE.iter().enumerate() {
            // SAFETY: only the thread that moved TABLE_STATE to BUSY gets
            // here, and no QnxFutex exists yet, so nobody else uses the slots.
            if let Err(e) = unsafe { slot.create() } {
                for made in TABLE[..i].iter().rev() {
                    // SAFETY: created above in this call; still unused.
                    unsafe { made.destroy() };
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Makes sure the table exists (see the module docs).
    fn ensure_table(state: &AtomicU32) -> Result<()> {
        loop {
            match state.compare_exchange(
                TABLE_UNINIT,
                TABLE_BUSY,
                Ordering::Acquire,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    let made = create_table();
                    let next = if made.is_ok() {
                        TABLE_READY
                    } else {
                        TABLE_UNINIT
                    };
                    state.store(next, Ordering::Release);
                    return made;
                }
                Err(TABLE_READY) => return Ok(()),
                Err(_busy) => {
                    // Sleep (STATE_NANOSLEEP) rather than spin. Its result is
                    // irrelevant: the state is checked again either way.
                    let _ = timer_timeout(CLOCK_MONOTONIC, NTO_TIMEOUT_NANOSLEEP, &INIT_POLL_NS);
                }
            }
        }
    }

    /// The QNX [`FutexLike`] (see the [module docs](super)). Wake counts
    /// are upper bounds.
    #[derive(Copy, Clone, Debug)]
    pub struct QnxFutex {
        /// Proof that the table's kernel objects exist.
        _table: (),
    }

    impl QnxFutex {
        /// Creates the table's kernel objects on the first call in the
        /// process (`2 * SLOTS` `SyncTypeCreate` calls); later calls return
        /// at once.
        pub fn new() -> Result<Self> {
            ensure_table(&TABLE_STATE)?;
            Ok(Self { _table: () })
        }
    }

    impl FutexLike for QnxFutex {
        fn wait(
            &self,
            word: &AtomicU32,
            expected: u32,
            timeout: Option<Duration>,
        ) -> Result<WaitOutcome> {
            // A mismatch or a zero timeout needs no kernel call.
            if word.load(Ordering::Acquire) != expected {
                return Ok(WaitOutcome::Mismatch);
            }
            let deadline = match timeout {
                Some(Duration::ZERO) => return Ok(WaitOutcome::TimedOut),
                Some(t) => time::deadline_ns(time::monotonic_ns()?, t),
                None => None,
            };
            let addr = word.as_ptr().addr();
            let slot = &TABLE[slot_index(addr)];
            slot.lock()?;
            let outcome = loop {
                slot.register(addr);
                // Pairs with the fence in `wake` (module docs).
                fence(Ordering::SeqCst);
                if word.load(Ordering::Acquire) != expected {
                    slot.deregister();
                    break Ok(WaitOutcome::Mismatch);
                }
                let r = slot.wait(deadline);
                slot.deregister();
                match after_wait(r) {
                    AfterWait::Done(o) => break Ok(o),
                    // Same absolute deadline: a signal never extends it.
                    AfterWait::Retry => continue,
                    AfterWait::Fail(e) => break Err(e),
                }
            };
            let unlocked = slot.unlock();
            let outcome = outcome?;
            unlocked?;
            Ok(outcome)
        }

        fn wake(&self, word: &AtomicU32, n: u32) -> Result<u32> {
            if n == 0 {
                return Ok(0);
            }
            let addr = word.as_ptr().addr();
            let slot = &TABLE[slot_index(addr)];
            // Pairs with the fence in `wait` (module docs).
            fence(Ordering::SeqCst);
            if slot.waiters.load(Ordering::Relaxed) == 0 {
                return Ok(0);
            }
            slot.lock()?;
            let (plan, woken) = plan_wake(
                slot.waiters.load(Ordering::Relaxed),
                slot.tag.load(Ordering::Relaxed),
                addr,
                n,
            );
            let signalled = match plan {
                WakePlan::Nothing => Ok(()),
                WakePlan::SignalOne(k) => (0..k).try_for_each(|_| slot.signal(false)),
                WakePlan::Broadcast => slot.signal(true),
            };
            let unlocked = slot.unlock();
            signalled?;
            unlocked?;
            Ok(woken)
        }

        fn wake_count_is_exact(&self) -> bool {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    #[test]
    fn constants_match_the_headers() {
        assert_eq!((STATE_NANOSLEEP, STATE_CONDVAR), (0x0c, 0x0e));
        assert_eq!(NTO_TIMEOUT_CONDVAR, 0x4000);
        assert_eq!(NTO_TIMEOUT_NANOSLEEP, 0x1000);
        assert_eq!(WAIT_TIMEOUT_FLAGS, 0x8000_4000);
        assert_eq!(NTO_SYNC_MUTEX_FREE, 0);
        assert_eq!(NTO_SYNC_COND, (-5i32) as u32);
        assert_eq!(errno::EINTR, 4);
        assert_eq!(errno::ETIMEDOUT, 260);
    }

    #[test]
    fn slots_are_cache_lines() {
        assert_eq!(size_of::<Slot>(), 64);
        assert_eq!(core::mem::align_of::<Slot>(), 64);
        assert_eq!(core::mem::offset_of!(Slot, mutex), 0);
        assert_eq!(core::mem::offset_of!(Slot, cond), 8);
        assert_eq!(SLOTS, 1 << SLOT_BITS);
    }

    #[test]
    fn slot_index_is_in_range_and_spreads() {
        let base = 0x0000_7f12_3456_7000usize;
        let mut seen = [false; SLOTS];
        for i in 0..SLOTS {
            let s = slot_index(base + 4 * i);
            assert!(s < SLOTS);
            seen[s] = true;
        }
        // 64 adjacent words must not pile into a few slots.
        let distinct = seen.iter().filter(|&&b| b).count();
        assert!(distinct >= SLOTS / 2, "only {distinct} distinct slots");
        // Deterministic: waiters and wakers agree on the slot.
        assert_eq!(slot_index(base), slot_index(base));
        assert!(slot_index(usize::MAX & !3) < SLOTS);
    }

    #[test]
    fn tags_track_one_word_or_mixed() {
        let (a, b) = (0x1000, 0x2000);
        assert_eq!(tag_after_register(0, TAG_NONE, a), a);
        assert_eq!(tag_after_register(1, a, a), a);
        assert_eq!(tag_after_register(1, a, b), TAG_MIXED);
        assert_eq!(tag_after_register(3, TAG_MIXED, a), TAG_MIXED);
        // A stale tag with no waiters is replaced.
        assert_eq!(tag_after_register(0, TAG_MIXED, b), b);

        let slot = Slot::new();
        slot.register(a);
        slot.register(a);
        assert_eq!(slot.tag.load(Ordering::Relaxed), a);
        slot.register(b);
        assert_eq!(slot.tag.load(Ordering::Relaxed), TAG_MIXED);
        slot.deregister();
        slot.deregister();
        assert_eq!(slot.waiters.load(Ordering::Relaxed), 1);
        assert_eq!(slot.tag.load(Ordering::Relaxed), TAG_MIXED);
        slot.deregister();
        assert_eq!(slot.waiters.load(Ordering::Relaxed), 0);
        assert_eq!(slot.tag.load(Ordering::Relaxed), TAG_NONE);
    }

    #[test]
    fn wake_plans() {
        let (a, b) = (0x1000, 0x2000);
        assert_eq!(plan_wake(0, TAG_NONE, a, 5), (WakePlan::Nothing, 0));
        assert_eq!(plan_wake(3, a, a, 0), (WakePlan::Nothing, 0));
        assert_eq!(plan_wake(3, a, a, 1), (WakePlan::SignalOne(1), 1));
        assert_eq!(plan_wake(3, a, a, 2), (WakePlan::SignalOne(2), 2));
        assert_eq!(plan_wake(3, a, a, 3), (WakePlan::Broadcast, 3));
        assert_eq!(plan_wake(3, a, a, u32::MAX), (WakePlan::Broadcast, 3));
        // Waiters on another word only: nothing to do.
        assert_eq!(plan_wake(3, b, a, 1), (WakePlan::Nothing, 0));
        // Shared slot: broadcast, report at most n.
        assert_eq!(plan_wake(4, TAG_MIXED, a, 1), (WakePlan::Broadcast, 1));
        assert_eq!(plan_wake(4, TAG_MIXED, a, 9), (WakePlan::Broadcast, 4));
    }

    #[test]
    fn wait_results() {
        let e = |code| Err(Errno::from_raw(code).unwrap());
        assert_eq!(after_wait(Ok(())), AfterWait::Done(WaitOutcome::Woken));
        assert_eq!(
            after_wait(e(errno::ETIMEDOUT)),
            AfterWait::Done(WaitOutcome::TimedOut)
        );
        assert_eq!(after_wait(e(errno::EINTR)), AfterWait::Retry);
        let inval = Errno::from_raw(errno::EINVAL).unwrap();
        assert_eq!(after_wait(Err(inval)), AfterWait::Fail(inval));
        // Linux's ETIMEDOUT (110) is not QNX's (260).
        let linux_timedout = Errno::from_raw(110).unwrap();
        assert_eq!(
            after_wait(Err(linux_timedout)),
            AfterWait::Fail(linux_timedout)
        );
    }
}
