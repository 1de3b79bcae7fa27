//! [`BareMetalFutex`]: the futex contract on aarch64 at EL1 with no OS,
//! built on the exclusive monitor, `wfe`/`wfet` and `sev`.
//!
//! # Why waiters park on their own word
//! The textbook wait loop (`sevl; wfe`, `ldaxr` the word, compare, `wfe`,
//! re-check) sleeps until the *word* changes. A futex must also wake on a
//! `wake` that leaves the word alone (a condition variable's signal, the
//! conformance checks `wake_wakes_a_timed_waiter` and
//! `wake_counts_are_exact`), and `wake(word, n)` must wake at most `n` and
//! say how many. So each waiter queues a small node on its own stack and
//! runs the monitor idiom on the node's `woken` flag instead of on the
//! word; `wake` dequeues up to `n` nodes, sets their flags with a
//! store-release, then `dsb ish; sev`. The count is exact:
//! [`wake_count_is_exact`](crate::FutexLike::wake_count_is_exact) is true.
//!
//! # Wait
//! 1. A mismatch returns at once; a zero timeout returns `TimedOut`.
//! 2. The deadline is `CNTVCT_EL0 + timeout` (rounded up), fixed once; a
//!    timeout whose deadline does not fit in 64 bits waits forever.
//! 3. Lock the word's bucket (one of [`BUCKETS`], by address), compare the
//!    word again, append the node (FIFO), unlock.
//! 4. Loop: `sevl; wfe; ldaxr node.woken; cbnz; wfe` — or `wfet deadline`
//!    where FEAT_WFxT exists. A set flag is `Woken`. Past the deadline:
//!    lock the bucket; a flag set meanwhile is still `Woken`, otherwise
//!    unlink the node and return `TimedOut`.
//!
//! # Wake
//! `n == 0` returns 0. Lock the bucket; walk it from the head and, for each
//! node of this word, up to `n`: unlink it, then `woken.store(1, Release)`
//! (the last access to the node: its owner may return and reuse the stack
//! right after). Unlock; if any was woken, `dsb ish; sev`. The store itself
//! clears the waiter's exclusive monitor, which already ends its `wfe`; the
//! `sev` covers a waiter whose monitor is no longer armed when the store
//! lands (preempted between its `ldaxr` and its `wfe`, and resumed on
//! another core).
//!
//! # No lost wake-ups
//! The waiter compares the word under the bucket lock and the waker walks
//! the queue under it. A waker that changed the word before calling `wake`
//! either ran its critical section first (the waiter's lock acquire then
//! sees the new word: `Mismatch`) or after (the node is queued: it is woken).
//!
//! # Spurious returns and timeouts
//! `wfe` returns on any event (interrupts, the event stream, other cores'
//! `sev`); the loop re-reads the flag, so these never surface. Without
//! FEAT_WFxT a timed wait relies on the timer event stream to notice its
//! deadline: the first timed wait on a core turns it on there (see
//! [`timer`]). An untimed wait needs no event stream.
//!
//! # Requirements
//! * EL1: the bucket lock masks IRQ and FIQ (`DAIF`) while held, and the
//!   event stream lives in `CNTKCTL_EL1`.
//! * `wake` may run in an interrupt handler (the lock is taken with
//!   interrupts masked, so a handler never spins on a lock its own core
//!   holds); `wait` must not (it blocks).
//! * Normal (cacheable) memory for the buckets and the waiters' stacks:
//!   exclusives (`ldaxr`, and the lock's atomics) are only architecturally
//!   defined there, so the MMU and data cache must be on.
//! * The counter runs at the same rate and value on every core (the
//!   architecture's system counter).
//!
//! # How the Wasm layer uses it
//! `memory.atomic.notify` must wake waiters in FIFO order and report an
//! exact count. This backend already wakes its queue in FIFO order per word
//! and counts exactly; the Wasm layer nevertheless keeps its own queue and
//! parks each waiter on a word of its own, so it does not depend on that.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use core::time::Duration;

use super::timer;
use crate::arch::baremetal as arch;
use crate::errno::Result;
use crate::futex::{FutexLike, WaitOutcome};

/// Number of buckets (a power of two); a word's address picks one.
pub const BUCKETS: usize = 64;

/// A waiter, on the waiting thread's stack while it is queued.
struct Node {
    /// The next node in the bucket (changed only under the bucket lock).
    next: AtomicPtr<Node>,
    /// The word waited on.
    addr: usize,
    /// Set to 1 by the waker that dequeued this node.
    woken: AtomicU32,
}

/// A bucket: a spin lock and a FIFO queue of nodes.
#[repr(align(64))]
struct Bucket {
    /// 0 free, 1 held.
    lock: AtomicU32,
    /// First and last queued node (changed only under `lock`).
    head: AtomicPtr<Node>,
    tail: AtomicPtr<Node>,
}

impl Bucket {
    const fn new() -> Self {
        Self {
            lock: AtomicU32::new(0),
            head: AtomicPtr::new(ptr::null_mut()),
            tail: AtomicPtr::new(ptr::null_mut()),
        }
    }

    /// Masks interrupts on this core and takes the lock.
    fn lock(&self) -> Locked<'_> {
        // SAFETY: EL1 (module contract); restored by `Locked::drop`.
        let daif = unsafe { arch::irq_save() };
        while self.lock.swap(1, Ordering::Acquire) != 0 {
            while self.lock.load(Ordering::Relaxed) != 0 {
                core::hint::spin_loop();
            }
        }
        Locked { bucket: self, daif }
    }
}

/// A held bucket lock; dropping it unlocks and restores the interrupt mask.
struct Locked<'a> {
    bucket: &'a Bucket,
    daif: u64,
}

impl Locked<'_> {
    /// Appends `node` at the tail.
    fn push(&self, node: &Node) {
        let b = self.bucket;
        let p = ptr::from_ref(node).cast_mut();
        node.next.store(ptr::null_mut(), Ordering::Relaxed);
        let tail = b.tail.load(Ordering::Relaxed);
        if tail.is_null() {
            b.head.store(p, Ordering::Relaxed);
        } else {
            // SAFETY: queued nodes stay alive until unlinked (their owners
            // wait for that under this lock), and we hold the lock.
            unsafe { (*tail).next.store(p, Ordering::Relaxed) };
        }
        b.tail.store(p, Ordering::Relaxed);
    }

    /// Unlinks `cur`, whose predecessor is `prev` (null for the head).
    ///
    /// # Safety
    /// `cur` is queued in this bucket right after `prev`.
    unsafe fn unlink(&self, prev: *mut Node, cur: *mut Node) {
        let b = self.bucket;
        // SAFETY: `cur` is queued (caller), so alive; we hold the lock.
        let next = unsafe { (*cur).next.load(Ordering::Relaxed) };
        if prev.is_null() {
            b.head.store(next, Ordering::Relaxed);
        } else {
            // SAFETY: `prev` is queued, so alive; we hold the lock.
            unsafe { (*prev).next.store(next, Ordering::Relaxed) };
        }
        if b.tail.load(Ordering::Relaxed) == cur {
            b.tail.store(prev, Ordering::Relaxed);
        }
    }

    /// Unlinks `node` if it is queued; returns whether it was.
    fn remove(&self, node: &Node) -> bool {
        let target = ptr::from_ref(node).cast_mut();
        let mut prev = ptr::null_mut();
        let mut cur = self.bucket.head.load(Ordering::Relaxed);
        while !cur.is_null() {
            if cur == target {
                // SAFETY: `cur` was reached from the head, right after `prev`.
                unsafe { self.unlink(prev, cur) };
                return true;
            }
            prev = cur;
            // SAFETY: queued nodes are alive; we hold the lock.
            cur = unsafe { (*cur).next.load(Ordering::Relaxed) };
        }
        false
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.bucket.lock.store(0, Ordering::Release);
        // SAFETY: the value `irq_save` returned on this core in `lock`.
        unsafe { arch::irq_restore(self.daif) };
    }
}

/// The wait queues, shared by every [`BareMetalFutex`] (waiters and wakers
/// meet by address, as with a kernel futex).
static TABLE: [Bucket; BUCKETS] = [const { Bucket::new() }; BUCKETS];

fn bucket_of(addr: usize) -> usize {
    // Fibonacci hashing of the word index; the top bits pick the bucket.
    let h = ((addr >> 2) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> (64 - BUCKETS.trailing_zeros())) as usize
}

fn bucket(addr: usize) -> &'static Bucket {
    &TABLE[bucket_of(addr)]
}

/// The futex contract on bare-metal aarch64 at EL1 (see the
/// [module docs](self)). A handle: all instances share one set of queues.
#[derive(Copy, Clone, Debug, Default)]
pub struct BareMetalFutex;

impl BareMetalFutex {
    /// A handle on the (global) wait queues.
    pub const fn new() -> Self {
        Self
    }

    /// Which of the [`BUCKETS`] queues `word` hashes to (a diagnostic:
    /// tests use it to find two words that share a queue).
    pub fn bucket_index(word: &AtomicU32) -> usize {
        bucket_of(word.as_ptr() as usize)
    }

    /// Waiters queued on `word` right now (a diagnostic: by the time it
    /// returns the number may have changed).
    pub fn waiters(&self, word: &AtomicU32) -> usize {
        let addr = word.as_ptr() as usize;
        let b = bucket(addr);
        let _g = b.lock();
        let mut n = 0;
        let mut cur = b.head.load(Ordering::Relaxed);
        while !cur.is_null() {
            // SAFETY: queued nodes are alive; we hold the lock.
            let node = unsafe { &*cur };
            if node.addr == addr {
                n += 1;
            }
            cur = node.next.load(Ordering::Relaxed);
        }
        n
    }
}

impl FutexLike for BareMetalFutex {
    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome> {
        if word.load(Ordering::Acquire) != expected {
            return Ok(WaitOutcome::Mismatch);
        }
        let deadline = match timeout {
            None => None,
            Some(Duration::ZERO) => return Ok(WaitOutcome::TimedOut),
            // Too far to represent: wait forever (trait contract).
            Some(d) => timer::duration_to_ticks(d, timer::frequency())
                .and_then(|t| timer::counter().checked_add(t)),
        };
        let addr = word.as_ptr() as usize;
        let b = bucket(addr);
        let node = Node {
            next: AtomicPtr::new(ptr::null_mut()),
            addr,
            woken: AtomicU32::new(0),
        };
        {
            let g = b.lock();
            if word.load(Ordering::Acquire) != expected {
                return Ok(WaitOutcome::Mismatch);
            }
            g.push(&node);
        }
        // From here `node` is queued: it must not move (it does not: it is
        // a local only borrowed below) and this function must not return
        // before it is unlinked, by a waker or by the timeout path.
        let wfxt = deadline.is_some() && timer::has_wfxt();
        loop {
            let woken = match deadline {
                // SAFETY: `wfxt` says the CPU has FEAT_WFxT.
                Some(dl) if wfxt => unsafe { arch::monitor_wait_until(&node.woken, dl) },
                Some(_) => {
                    if !timer::event_stream_enabled() {
                        timer::enable_event_stream();
                    }
                    arch::monitor_wait(&node.woken)
                }
                None => arch::monitor_wait(&node.woken),
            };
            if woken != 0 {
                return Ok(WaitOutcome::Woken);
            }
            if let Some(dl) = deadline
                && timer::counter() >= dl
            {
                let g = b.lock();
                if node.woken.load(Ordering::Acquire) != 0 {
                    // A waker unlinked it after the deadline passed.
                    return Ok(WaitOutcome::Woken);
                }
                let queued = g.remove(&node);
                debug_assert!(queued, "an unwoken node is always queued");
                return Ok(WaitOutcome::TimedOut);
            }
        }
    }

    fn wake(&self, word: &AtomicU32, n: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        let addr = word.as_ptr() as usize;
        let b = bucket(addr);
        let mut woken = 0u32;
        {
            let g = b.lock();
            let mut prev = ptr::null_mut::<Node>();
            let mut cur = b.head.load(Ordering::Relaxed);
            while !cur.is_null() && woken < n {
                // SAFETY: queued nodes are alive; we hold the lock.
                let next = unsafe { (*cur).next.load(Ordering::Relaxed) };
                // SAFETY: as above.
                if unsafe { (*cur).addr } == addr {
                    // SAFETY: `cur` was reached from the head, after `prev`.
                    unsafe { g.unlink(prev, cur) };
                    // Last access: the owner may return once it sees this.
                    // SAFETY: unlinked but not yet released by its owner,
                    // who waits for exactly this store.
                    unsafe { (*cur).woken.store(1, Ordering::Release) };
                    woken += 1;
                } else {
                    prev = cur;
                }
                cur = next;
            }
        }
        if woken != 0 {
            arch::send_event();
        }
        Ok(woken)
    }

    fn wake_count_is_exact(&self) -> bool {
        true
    }
}
