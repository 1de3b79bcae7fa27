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
//!   append the node at the tail, unlock, and park on the node's slot
//!   until the node's state is `DONE`.
//! * notify: if the bucket's `waiters` is 0, return 0: one load, no lock, no
//!   system call. Otherwise lock, take up to `count` nodes with the address
//!   from the head (skipping nodes of other addresses that share the
//!   bucket), mark each `NOTIFYING`, subtract them from `waiters`, unlock;
//!   then for each, in FIFO order: read its successor, store `DONE` (the
//!   last access to the node), increment its slot and wake every sleeper
//!   of the slot. Return how many were taken.
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
//! * Parking: the waiter loads its slot's sequence (`Acquire`), then its
//!   state; unless `DONE`, it sleeps while the slot still holds that
//!   sequence. The notifier stores `DONE` and then increments the slot
//!   (`Release`), so a waiter whose load saw the increment also sees
//!   `DONE`, and one that did not sleeps on a stale sequence: its futex
//!   wait returns at once or is woken by the wake that follows the
//!   increment. No wake-up is lost, whoever else shares the slot.
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
    /// `WAITING`, `NOTIFYING` or `DONE`.
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
        }
    }

    /// Takes the lock. Critical sections are a few pointer updates, never
    /// a system call.
    fn lock(&self) -> Locked<'_> {
        self.lock.lock();
        Locked(self)
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
                // counted.
                node.state.store(NOTIFYING, Ordering::Release);
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
        // The sequence first: a notifier stores `DONE` before it
        // increments the slot, so if this load sees the increment, the
        // state load below sees `DONE` (module docs, "Parking").
        let seq = self.slot.load(Ordering::Acquire);
        let state = self.node.state.load(Ordering::Acquire);
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
            if self.node.state.load(Ordering::Relaxed) == WAITING {
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
            node.state.store(last, Ordering::Release);
            let slot = self.slot(cur);
            slot.fetch_add(1, Ordering::Release);
            // Every sleeper of the slot: others that share it re-check
            // their state and sleep again. An error or a wake that finds
            // nobody asleep loses nothing (the waiter re-checks before
            // every sleep).
            let _ = self.futex.wake(slot, u32::MAX);
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

    /// Timed and untimed waiters against notifiers, several rounds: every
    /// notify's count equals the waiters that returned `Ok` for it (summed),
    /// and the queue ends empty.
    #[test]
    fn counts_are_conserved_under_races() {
        let q = &*queue();
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
