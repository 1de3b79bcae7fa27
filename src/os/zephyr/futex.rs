//! [`ZephyrFutex`]: the futex contract over Zephyr's `k_futex_wait` /
//! `k_futex_wake`.
//!
//! # A 32-bit word on an 8-byte futex
//! `struct k_futex` is an `atomic_t` (`long`, 8 bytes on arm64) and the
//! kernel compares all of it, so the trait's `&AtomicU32` (a Wasm word)
//! cannot be the futex. Instead the integrator hands over a table of
//! `k_futex` objects; a word's address picks a *slot*, two futexes:
//!
//! * `lock`: a futex-based mutex (0 free, 1 held, 2 held with waiters;
//!   Drepper, "Futexes Are Tricky", mutex 2) guarding the slot's
//!   bookkeeping. It blocks in the kernel, never spins, so a preempted
//!   holder cannot starve a higher-priority thread on the same CPU.
//! * `seq`: an event count. A waiter reads it under the lock, re-checks the
//!   word, releases the lock and sleeps in `k_futex_wait(seq, value)`; a
//!   waker bumps it under the lock before `k_futex_wake(seq)`. A wake that
//!   lands between the waiter's check and its sleep changes `seq`, so the
//!   kernel returns `-EAGAIN` at once (reported as `Woken`): no lost
//!   wake-ups. `seq` stays within `int` range (the kernel compares it with
//!   the sign-extended `int expected`) by wrapping at 32 bits.
//!
//! The bookkeeping (waiters registered in the slot, and the one word they
//! all wait on, or "mixed") decides how to wake: if every registered
//! waiter waits on this word and `n` is smaller than their number,
//! `k_futex_wake(seq, false)` up to `n` times (each wakes the
//! highest-priority waiter; Zephyr orders by priority, not FIFO);
//! otherwise `k_futex_wake(seq, true)`, and waiters on other words of a
//! mixed slot see a spurious `Woken` (the contract allows it). The count
//! returned is the kernel's, capped at `n`: exact for a slot with one
//! word, an upper bound for a mixed one, so
//! [`wake_count_is_exact`](crate::FutexLike::wake_count_is_exact) is false.
//! A wake with nobody registered in the slot makes no kernel call.
//!
//! # Timeouts
//! Converted once to kernel ticks, rounded up, and passed as a relative
//! `k_timeout_t` to the single kernel sleep (Zephyr has no signals, so a
//! sleep is never restarted). A timeout too large for `k_ticks_t` is
//! `K_FOREVER`. Waiting for the slot lock is not counted against it, so a
//! wait can end late by the time the lock was contended, never early.
//!
//! # Using it
//! One `ZephyrFutex` per table, shared by every thread (a `static`): its
//! bookkeeping lives in the instance. The table's futexes must be writable
//! by the calling threads (user threads: in their memory domain; the kernel
//! returns `-EACCES` otherwise) and, before Zephyr's single-queue futex
//! rewrite, kernel objects (`struct k_futex table[N];` in C; `-EINVAL`
//! otherwise). Errors are returned, numbered as the build numbers them.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering, fence};
use core::time::Duration;

use super::kernel::{self, FutexWait, KFutex, KTimeout, Mode};
use crate::errno::Result;
use crate::futex::{FutexLike, WaitOutcome};

/// At most this many slots are used (a table may be bigger).
pub const MAX_SLOTS: usize = 32;

/// `Slot::tag` when no waiter is registered.
const TAG_NONE: usize = 0;
/// `Slot::tag` when waiters on different words share the slot (word
/// addresses are 4-aligned and non-zero, so neither is an address).
const TAG_MIXED: usize = usize::MAX;

/// The bookkeeping of one slot (changed only under the slot lock).
#[derive(Debug)]
struct Slot {
    /// Registered waiters (read without the lock by the wake shortcut).
    waiters: AtomicU32,
    /// The word they all wait on, [`TAG_NONE`] or [`TAG_MIXED`].
    tag: AtomicUsize,
}

/// The futex contract over Zephyr `k_futex` (see the [module docs](self)).
#[derive(Debug)]
pub struct ZephyrFutex {
    mode: Mode,
    table: &'static [KFutex],
    slots: [Slot; MAX_SLOTS],
}

impl ZephyrFutex {
    /// A futex over `table` (`2 * slots` `k_futex` objects; slot `i` uses
    /// entries `2i` (lock) and `2i + 1` (sequence); at most [`MAX_SLOTS`]
    /// slots are used), reaching the kernel through `mode`.
    ///
    /// # Panics
    /// If `table` has fewer than two entries.
    pub const fn new(mode: Mode, table: &'static [KFutex]) -> Self {
        assert!(
            table.len() >= 2,
            "a ZephyrFutex needs at least two k_futex objects"
        );
        Self {
            mode,
            table,
            slots: [const {
                Slot {
                    waiters: AtomicU32::new(0),
                    tag: AtomicUsize::new(TAG_NONE),
                }
            }; MAX_SLOTS],
        }
    }

    /// The mode this futex calls the kernel with.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    fn slot_count(&self) -> usize {
        (self.table.len() / 2).min(MAX_SLOTS)
    }

    /// The slot `word` maps to (Fibonacci hash of its address).
    pub fn slot_index(&self, word: &AtomicU32) -> usize {
        let h = ((word.as_ptr() as usize >> 2) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        ((h >> 32) % self.slot_count() as u64) as usize
    }

    /// The lock and sequence futexes of slot `i`.
    pub fn slot_futexes(&self, i: usize) -> (&'static KFutex, &'static KFutex) {
        (&self.table[2 * i], &self.table[2 * i + 1])
    }

    fn lock(&self, i: usize) -> Result<()> {
        let l = &self.table[2 * i].val;
        if l.compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(());
        }
        while l.swap(2, Ordering::Acquire) != 0 {
            // Woken, or the lock changed before we slept: try again.
            kernel::futex_wait(self.mode, &self.table[2 * i], 2, KTimeout::FOREVER)?;
        }
        Ok(())
    }

    fn unlock(&self, i: usize) -> Result<()> {
        if self.table[2 * i].val.swap(0, Ordering::Release) == 2 {
            kernel::futex_wake(self.mode, &self.table[2 * i], false)?;
        }
        Ok(())
    }

    /// Registers a waiter on `addr` in slot `s` (slot lock held).
    fn register(s: &Slot, addr: usize) {
        s.waiters.fetch_add(1, Ordering::Relaxed);
        match s.tag.load(Ordering::Relaxed) {
            TAG_NONE => s.tag.store(addr, Ordering::Relaxed),
            t if t == addr => {}
            _ => s.tag.store(TAG_MIXED, Ordering::Relaxed),
        }
    }

    /// Undoes [`register`](Self::register) (slot lock held, or, after a
    /// lock failure, only the count).
    fn deregister(s: &Slot, locked: bool) {
        if s.waiters.fetch_sub(1, Ordering::Relaxed) == 1 && locked {
            s.tag.store(TAG_NONE, Ordering::Relaxed);
        }
    }
}

/// The next sequence value: +1, wrapping within `int` (see the module docs).
fn next_seq(v: isize) -> isize {
    (v as i32).wrapping_add(1) as isize
}

impl FutexLike for ZephyrFutex {
    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome> {
        if word.load(Ordering::Acquire) != expected {
            return Ok(WaitOutcome::Mismatch);
        }
        let kt = match timeout {
            None => KTimeout::FOREVER,
            Some(Duration::ZERO) => return Ok(WaitOutcome::TimedOut),
            Some(d) => KTimeout::from_duration(d),
        };
        let addr = word.as_ptr() as usize;
        let i = self.slot_index(word);
        let s = &self.slots[i];
        let seq = &self.table[2 * i + 1];
        self.lock(i)?;
        Self::register(s, addr);
        let snapshot = seq.val.load(Ordering::Acquire);
        // Pairs with the waker's fence: either the waker sees us registered
        // or we see its new word.
        fence(Ordering::SeqCst);
        if word.load(Ordering::Acquire) != expected {
            Self::deregister(s, true);
            self.unlock(i)?;
            return Ok(WaitOutcome::Mismatch);
        }
        if let Err(e) = self.unlock(i) {
            Self::deregister(s, false);
            return Err(e);
        }
        let slept = kernel::futex_wait(self.mode, seq, snapshot as i32, kt);
        let relocked = self.lock(i);
        Self::deregister(s, relocked.is_ok());
        if relocked.is_ok() {
            self.unlock(i)?;
        }
        relocked?;
        match slept? {
            // -EAGAIN: `seq` moved after we read it, i.e. a wake ran.
            FutexWait::Woken | FutexWait::ValueChanged => Ok(WaitOutcome::Woken),
            FutexWait::TimedOut => Ok(WaitOutcome::TimedOut),
        }
    }

    fn wake(&self, word: &AtomicU32, n: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        let addr = word.as_ptr() as usize;
        let i = self.slot_index(word);
        let s = &self.slots[i];
        fence(Ordering::SeqCst);
        if s.waiters.load(Ordering::Relaxed) == 0 {
            return Ok(0);
        }
        let seq = &self.table[2 * i + 1];
        self.lock(i)?;
        let waiters = s.waiters.load(Ordering::Relaxed);
        let woken = if waiters == 0 {
            Ok(0)
        } else {
            let v = seq.val.load(Ordering::Relaxed);
            seq.val.store(next_seq(v), Ordering::Release);
            if s.tag.load(Ordering::Relaxed) == addr && n < waiters {
                let mut k = 0;
                let mut r = Ok(0);
                while k < n {
                    match kernel::futex_wake(self.mode, seq, false) {
                        Ok(0) => break,
                        Ok(c) => k += c,
                        Err(e) => {
                            r = Err(e);
                            break;
                        }
                    }
                }
                r.map(|_: u32| k)
            } else {
                kernel::futex_wake(self.mode, seq, true).map(|c| c.min(n))
            }
        };
        self.unlock(i)?;
        woken
    }

    fn wake_count_is_exact(&self) -> bool {
        false
    }
}
