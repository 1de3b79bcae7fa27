//! `MacOsUnfairLock`: the `os_unfair_lock` protocol on raw `__ulock_wait2`
//! / `__ulock_wake` with `UL_UNFAIR_LOCK`, so the kernel knows the owner
//! and applies priority inheritance to it while others wait.
//!
//! # Lock word (`os_unfair_lock`, apple-oss-distributions/libplatform `src/os/lock.c`)
//!
//! One `u32`:
//!
//! | value | meaning |
//! |---|---|
//! | 0 | unlocked (`OS_LOCK_NO_OWNER`) |
//! | owner's thread port name | locked, nobody waits (a port name always has bit 0 set: `OS_ULOCK_NOWAITERS_BIT`) |
//! | owner's name with bit 0 clear | locked, waiters may sleep in the kernel |
//!
//! The kernel reconstructs the owner from the word with
//! `ulock_owner_value_to_port_name(v) = v | 0x3` (`bsd/sys/ulock.h`) and
//! boosts that thread while a waiter sleeps (`port_name_to_thread_for_ulock`
//! in `bsd/kern/sys_ulock.c`); a word that names no thread of this task is
//! `EOWNERDEAD`.
//!
//! * **lock**: CAS 0 → `self`. On failure: clear the no-waiters bit (CAS),
//!   then `__ulock_wait2(UL_UNFAIR_LOCK | ULF_NO_ERRNO, word, seen, 0, 0)`
//!   (no timeout); the kernel sleeps only if the word still equals `seen`.
//!   A positive return (other waiters remain) makes the next owner store
//!   `self` with bit 0 clear, so its unlock wakes them. (libplatform's
//!   `_os_unfair_lock_lock_slow` is the same loop on `__ulock_wait` with a
//!   timeout of 0 µs; wait2 with 0 ns is the same call in the kernel.)
//! * **unlock**: swap → 0. If the old word was exactly `self` nobody waits;
//!   otherwise (bit 0 clear) `__ulock_wake(UL_UNFAIR_LOCK | ULF_NO_ERRNO,
//!   word, 0)`, which wakes one waiter and hands the boost to it.
//!
//! # `ULF_NO_ERRNO`
//!
//! With it the kernel never sets the carry flag: x0 holds the result, or
//! `-errno` (`sys_ulock.c` ends with `*retval = -ret` under
//! `ULF_NO_ERRNO`). [`decode_no_errno`] turns that back into a `Result`
//! (and still honours a set carry, which this flag should never produce).
//! Wait results: ≥ 0 waiters left; `EINTR` / `EFAULT` retry (the latter
//! after touching the word, which the atomic reload does); `EOWNERDEAD` /
//! `ESRCH` (the word names no live thread: a corrupted lock) are not fatal
//! here: the waiter spins once and retries, where libplatform aborts.
//! Wake results: `ENOENT` (nobody registered) and success both end the
//! unlock; `EINTR` retries.
//!
//! # The owner's port name, and its cost
//!
//! libSystem reads the thread's port name from the thread's TSD slot
//! (`__TSD_MACH_THREAD_SELF`, a libpthread-private layout). This backend
//! asks the kernel: `thread_self_trap()` (Mach trap -27), which returns the
//! name and adds a user reference to it, then drops that reference with
//! `mach_port_deallocate(task, name)` (trap -18) so repeated locking never
//! piles up references (libpthread keeps its own reference for the
//! thread's life, so the name stays valid). That is two traps per `lock`,
//! contended or not: fine for the memory grow lock, which guards an
//! `mprotect` anyway, not for a hot fine-grained lock.
//!
//! # Structure and evidence
//!
//! The protocol is [`RawUnfairLock`], generic over [`UlockOps`] (the two
//! ulock calls and the owner's name). On macOS `MacOsUnfairLock` binds it
//! to the raw traps; the host tests run the same code on 8 threads over an
//! emulated ulock with the kernel's compare-under-lock semantics: mutual
//! exclusion and no lost wake-up (a planted bug, an unlock that skips the
//! wake, makes that test fail with "lost wake-up"). Not executed on a Mac.
//!
//! Not recursive: a thread that locks twice panics (libplatform aborts,
//! `_os_unfair_lock_recursive_abort`) rather than spin on a wait the kernel
//! refuses.

use core::hint::spin_loop;
use core::sync::atomic::{AtomicU32, Ordering};

use super::abi::xnu;
use super::consts::ulock;
use super::errno as e;
use crate::errno::{Errno, Result};

/// The value of a locked word with no waiters, for the owner whose port
/// name is `name` (`OS_ULOCK_OWNER`: the name with bit 0 set).
pub const fn owner_value(name: u32) -> u32 {
    name | ulock::NOWAITERS_BIT
}

/// Whether `word` is held by `name` (waiters or not).
pub const fn is_owner(word: u32, name: u32) -> bool {
    word != 0 && owner_value(word) == owner_value(name)
}

/// The word a waiter stores before it sleeps: the no-waiters bit cleared.
pub const fn waiting_value(word: u32) -> u32 {
    word & !ulock::NOWAITERS_BIT
}

/// The word the new owner stores: its name, with the no-waiters bit
/// cleared when the kernel said other waiters remain.
pub const fn acquired_value(name: u32, more_waiters: bool) -> u32 {
    if more_waiters {
        waiting_value(owner_value(name))
    } else {
        owner_value(name)
    }
}

/// What `unlock` found in the word it swapped to 0.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Released {
    /// It was `self` with the no-waiters bit: nothing more to do.
    Quiet,
    /// Waiters may sleep: wake one.
    Wake,
    /// The word did not name this thread (a bug or a fork child's
    /// `force_unlock`): still wake, so no waiter sleeps forever.
    NotOwner,
}

/// Classifies the old word of an unlock by `name`.
pub const fn released(old: u32, name: u32) -> Released {
    if old == owner_value(name) {
        Released::Quiet
    } else if is_owner(old, name) {
        Released::Wake
    } else {
        Released::NotOwner
    }
}

/// Decodes `(x0, carry)` of a ulock call made with `ULF_NO_ERRNO`: the low
/// 32 bits are an `int`, negative for `-errno`.
pub fn decode_no_errno(x0: usize, carry: bool) -> Result<u32> {
    if carry {
        return super::abi::decode_bsd(x0, true).map(|v| v as u32);
    }
    match x0 as u32 as i32 {
        v if v >= 0 => Ok(v as u32),
        v => match u16::try_from(v.unsigned_abs())
            .ok()
            .and_then(Errno::from_raw)
        {
            Some(errno) => Err(errno),
            None => Err(xnu(e::EIO)),
        },
    }
}

/// What a waiter does after `__ulock_wait2` returned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum WaitStep {
    /// Woken or the word changed; `true` if other waiters remain.
    Retry {
        /// The kernel reported other waiters on the word.
        more_waiters: bool,
    },
    /// The word names no live thread of this task: spin, then retry.
    Corrupt,
}

/// Classifies a `UL_UNFAIR_LOCK` wait's result. Every outcome leads back
/// to the acquire loop; unknown errors are treated like an interrupted
/// wait (retry), never as ownership.
pub fn wait_step(r: Result<u32>) -> WaitStep {
    match r {
        Ok(n) => WaitStep::Retry {
            more_waiters: n > 0,
        },
        Err(err) if err.raw() == e::EOWNERDEAD || err.raw() == e::ESRCH => WaitStep::Corrupt,
        // EINTR, EFAULT (the reload faults the page in), anything else.
        Err(_) => WaitStep::Retry {
            more_waiters: false,
        },
    }
}

/// Whether an unlock's `__ulock_wake` must be repeated.
pub fn wake_again(r: Result<u32>) -> bool {
    matches!(r, Err(err) if err.raw() == e::EINTR)
}

/// The `UL_UNFAIR_LOCK` operation word for both calls.
pub const OP: u32 = ulock::UL_UNFAIR_LOCK | ulock::ULF_NO_ERRNO;

/// The kernel side of the protocol: what [`RawUnfairLock`] needs from
/// XNU (the `imp` binding on macOS; an emulation in the host tests).
pub trait UlockOps {
    /// The calling thread's port name (bits 0 and 1 set).
    fn self_name(&self) -> u32;
    /// `__ulock_wait2(UL_UNFAIR_LOCK | ULF_NO_ERRNO, word, seen, 0, 0)`:
    /// sleeps unless the word no longer equals `seen`; the number of other
    /// waiters left, or the errno.
    fn wait(&self, word: &AtomicU32, seen: u32) -> Result<u32>;
    /// `__ulock_wake(UL_UNFAIR_LOCK | ULF_NO_ERRNO, word, 0)`: wakes one
    /// waiter (`ENOENT` when none).
    fn wake(&self, word: &AtomicU32) -> Result<u32>;
}

/// The lock word and the `os_unfair_lock` protocol over any [`UlockOps`]
/// (module docs). [`MacOsUnfairLock`](self) binds it to XNU; the host tests
/// run it on threads over an emulated ulock.
#[derive(Debug, Default)]
#[repr(transparent)]
pub struct RawUnfairLock {
    word: AtomicU32,
}

impl RawUnfairLock {
    /// An unlocked lock.
    pub const fn new() -> Self {
        Self {
            word: AtomicU32::new(0),
        }
    }

    /// Takes the lock for the thread `k.self_name()` names; returns that
    /// name, which [`unlock`](Self::unlock) needs.
    pub fn lock<K: UlockOps>(&self, k: &K) -> u32 {
        let name = k.self_name();
        let mut more_waiters = false;
        loop {
            let want = acquired_value(name, more_waiters);
            let mut seen =
                match self
                    .word
                    .compare_exchange(0, want, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => return name,
                    Err(seen) => seen,
                };
            // The kernel refuses to make a thread wait for itself; a second
            // `lock` on this thread can never succeed. (Not checkable for
            // the anonymous owner, `MACH_PORT_DEAD`.)
            assert!(
                name == u32::MAX || !is_owner(seen, name),
                "MacOsUnfairLock: locked twice by one thread"
            );
            let waiting = waiting_value(seen);
            if waiting != seen {
                match self.word.compare_exchange(
                    seen,
                    waiting,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => seen = waiting,
                    // Changed meanwhile (released, or another waiter cleared
                    // the bit): start over.
                    Err(_) => continue,
                }
            }
            match wait_step(k.wait(&self.word, seen)) {
                WaitStep::Retry { more_waiters: m } => more_waiters = m,
                WaitStep::Corrupt => {
                    spin_loop();
                    more_waiters = true;
                }
            }
        }
    }

    /// Takes the lock if it is free; the owner's name on success.
    pub fn try_lock<K: UlockOps>(&self, k: &K) -> Option<u32> {
        let name = k.self_name();
        self.word
            .compare_exchange(0, owner_value(name), Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| name)
    }

    /// Releases the lock taken by the thread named `name`, waking one
    /// waiter if any may sleep.
    pub fn unlock<K: UlockOps>(&self, k: &K, name: u32) {
        let old = self.word.swap(0, Ordering::Release);
        match released(old, name) {
            Released::Quiet => {}
            Released::Wake | Released::NotOwner => self.wake_one(k),
        }
    }

    /// Whether some thread holds the lock now (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.word.load(Ordering::Relaxed) != 0
    }

    /// Releases the lock whoever holds it, and wakes a waiter.
    ///
    /// # Safety
    /// Only where the holder can no longer use it: in the child of a
    /// `fork()` (the holder, another thread of the parent, does not exist
    /// there) while the child has a single thread.
    pub unsafe fn force_unlock<K: UlockOps>(&self, k: &K) {
        if self.word.swap(0, Ordering::Release) != 0 {
            self.wake_one(k);
        }
    }

    fn wake_one<K: UlockOps>(&self, k: &K) {
        while wake_again(k.wake(&self.word)) {}
    }
}

#[cfg(wrt_os = "macos")]
pub use imp::{MacOsUnfairLock, MacOsUnfairLockGuard};

#[cfg(wrt_os = "macos")]
mod imp {
    use core::sync::atomic::AtomicU32;

    use super::super::sys;
    use super::*;

    /// XNU's side of the protocol (module docs).
    #[derive(Copy, Clone, Debug, Default)]
    struct Xnu;

    impl UlockOps for Xnu {
        /// This thread's port name (see the [module docs](super) for the
        /// two traps). `MACH_PORT_NULL` (0) cannot come back for a live
        /// thread; if it did, `MACH_PORT_DEAD` (all ones) is used, which the
        /// kernel accepts as an anonymous owner.
        fn self_name(&self) -> u32 {
            let name = sys::thread_self_trap();
            if name == 0 {
                return u32::MAX;
            }
            // Drop the reference the trap added; the thread keeps its own.
            let _ = sys::with_task(|task| sys::mach_port_deallocate(task, name));
            name
        }

        fn wait(&self, word: &AtomicU32, seen: u32) -> Result<u32> {
            // SAFETY: `word` is a live AtomicU32 only accessed atomically;
            // the kernel reads it with copyin_atomic32.
            unsafe { sys::ulock_wait2_no_errno(OP, word.as_ptr().cast(), u64::from(seen)) }
        }

        fn wake(&self, word: &AtomicU32) -> Result<u32> {
            // SAFETY: ulock_wake only hashes the address.
            unsafe { sys::ulock_wake_no_errno(OP, word.as_ptr().cast()) }
        }
    }

    /// An `os_unfair_lock`-compatible lock (see the [module docs](super)).
    /// Zero-initialised, `const`-constructible, 4 bytes.
    #[derive(Debug, Default)]
    #[repr(transparent)]
    pub struct MacOsUnfairLock {
        raw: RawUnfairLock,
    }

    /// Holds a [`MacOsUnfairLock`]; unlocks on drop.
    #[derive(Debug)]
    #[must_use = "the lock is released when the guard drops"]
    pub struct MacOsUnfairLockGuard<'a> {
        lock: &'a MacOsUnfairLock,
        name: u32,
    }

    impl MacOsUnfairLock {
        /// An unlocked lock.
        pub const fn new() -> Self {
            Self {
                raw: RawUnfairLock::new(),
            }
        }

        /// Takes the lock, sleeping in the kernel while another thread
        /// holds it (that thread inherits the waiter's priority).
        pub fn lock(&self) -> MacOsUnfairLockGuard<'_> {
            let name = self.raw.lock(&Xnu);
            MacOsUnfairLockGuard { lock: self, name }
        }

        /// Takes the lock if it is free.
        pub fn try_lock(&self) -> Option<MacOsUnfairLockGuard<'_>> {
            let name = self.raw.try_lock(&Xnu)?;
            Some(MacOsUnfairLockGuard { lock: self, name })
        }

        /// Whether some thread holds the lock now (a snapshot).
        pub fn is_locked(&self) -> bool {
            self.raw.is_locked()
        }

        /// Releases the lock whoever holds it, and wakes a waiter.
        ///
        /// # Safety
        /// As for [`RawUnfairLock::force_unlock`].
        pub unsafe fn force_unlock(&self) {
            // SAFETY: forwarded.
            unsafe { self.raw.force_unlock(&Xnu) }
        }
    }

    impl Drop for MacOsUnfairLockGuard<'_> {
        fn drop(&mut self) {
            self.lock.raw.unlock(&Xnu, self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Port names have their two low bits set (ipc_entry generation bits).
    const ME: u32 = 0x1503;
    const OTHER: u32 = 0x2707;

    #[test]
    fn lock_word_encoding() {
        assert_eq!(owner_value(ME), ME);
        assert_eq!(owner_value(0x1502), 0x1503);
        assert_eq!(waiting_value(ME), 0x1502);
        assert_eq!(waiting_value(0x1502), 0x1502);
        assert_eq!(acquired_value(ME, false), 0x1503);
        assert_eq!(acquired_value(ME, true), 0x1502);
        // What the kernel makes of each word: the owner's name.
        for w in [acquired_value(ME, false), acquired_value(ME, true)] {
            assert_eq!(w | ulock::OWNER_NAME_BITS, ME);
            assert!(is_owner(w, ME));
            assert!(!is_owner(w, OTHER));
        }
        assert!(!is_owner(0, ME), "unlocked is nobody's");
        assert_eq!(OP, 0x0100_0002, "UL_UNFAIR_LOCK | ULF_NO_ERRNO");
    }

    #[test]
    fn unlock_classification() {
        assert_eq!(released(ME, ME), Released::Quiet);
        assert_eq!(released(0x1502, ME), Released::Wake);
        assert_eq!(released(OTHER, ME), Released::NotOwner);
        assert_eq!(released(0, ME), Released::NotOwner);
    }

    #[test]
    fn no_errno_decoding() {
        assert_eq!(decode_no_errno(0, false), Ok(0));
        assert_eq!(decode_no_errno(3, false), Ok(3));
        // -EINTR as a 32-bit int, sign-extended to 64 bits or not.
        assert_eq!(
            decode_no_errno((-4i64) as usize, false).map_err(|e| e.raw()),
            Err(e::EINTR)
        );
        assert_eq!(
            decode_no_errno(0xFFFF_FFFC, false).map_err(|e| e.raw()),
            Err(e::EINTR)
        );
        assert_eq!(
            decode_no_errno((-105i64) as usize, false).map_err(|e| e.raw()),
            Err(e::EOWNERDEAD)
        );
        assert_eq!(
            decode_no_errno((-2i64) as usize, false).map_err(|e| e.raw()),
            Err(e::ENOENT)
        );
        // A carry (not produced with ULF_NO_ERRNO) still means an errno.
        assert_eq!(
            decode_no_errno(22, true).map_err(|e| e.raw()),
            Err(e::EINVAL)
        );
        // i32::MIN has no errno: EIO.
        assert_eq!(
            decode_no_errno(0x8000_0000, false).map_err(|e| e.raw()),
            Err(e::EIO)
        );
    }

    #[test]
    fn wait_and_wake_steps() {
        let err = |c: u16| Err(xnu(c));
        assert_eq!(
            wait_step(Ok(0)),
            WaitStep::Retry {
                more_waiters: false
            }
        );
        assert_eq!(wait_step(Ok(2)), WaitStep::Retry { more_waiters: true });
        assert_eq!(
            wait_step(err(e::EINTR)),
            WaitStep::Retry {
                more_waiters: false
            }
        );
        assert_eq!(
            wait_step(err(e::EFAULT)),
            WaitStep::Retry {
                more_waiters: false
            }
        );
        assert_eq!(wait_step(err(e::EOWNERDEAD)), WaitStep::Corrupt);
        assert_eq!(wait_step(err(e::ESRCH)), WaitStep::Corrupt);
        assert!(wake_again(err(e::EINTR)));
        assert!(!wake_again(err(e::ENOENT)));
        assert!(!wake_again(Ok(0)));
        assert!(!wake_again(err(e::EINVAL)));
    }

    /// An emulated ulock with the kernel's semantics for `UL_UNFAIR_LOCK`:
    /// the compare happens under the same lock a wake takes (the `ull`
    /// lock in `sys_ulock.c`), a wake wakes one registered waiter or
    /// answers `ENOENT`, a wait returns how many other waiters remain.
    #[derive(Default)]
    struct Emulated {
        state: std::sync::Mutex<(u32, u32)>, // (waiters, wake tokens)
        cv: std::sync::Condvar,
    }

    std::thread_local! {
        static NAME: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
    }
    static NEXT: AtomicU32 = AtomicU32::new(1);
    static SLEEPS: AtomicU32 = AtomicU32::new(0);

    impl UlockOps for Emulated {
        fn self_name(&self) -> u32 {
            NAME.with(|n| {
                if n.get() == 0 {
                    // Port names: index << 8, generation bits 0..1 set.
                    n.set((NEXT.fetch_add(1, Ordering::Relaxed) << 8) | 3);
                }
                n.get()
            })
        }

        fn wait(&self, word: &AtomicU32, seen: u32) -> Result<u32> {
            let mut st = self.state.lock().unwrap();
            if word.load(Ordering::Relaxed) != seen {
                return Ok(st.0);
            }
            st.0 += 1;
            SLEEPS.fetch_add(1, Ordering::Relaxed);
            while st.1 == 0 {
                st = self.cv.wait(st).unwrap();
            }
            st.1 -= 1;
            st.0 -= 1;
            Ok(st.0)
        }

        fn wake(&self, _word: &AtomicU32) -> Result<u32> {
            let mut st = self.state.lock().unwrap();
            if st.0 == st.1 {
                // Every registered waiter already has a token: none left.
                return Err(xnu(e::ENOENT));
            }
            st.1 += 1;
            self.cv.notify_one();
            Ok(0)
        }
    }

    /// The protocol itself, on real threads over the emulated kernel:
    /// mutual exclusion (a non-atomic counter behind the lock) and no lost
    /// wake-up (the test ends). Small under Miri.
    #[test]
    fn protocol_excludes_and_never_loses_a_wakeup() {
        use std::sync::Arc;
        let (threads, rounds) = if cfg!(miri) { (3, 20) } else { (8, 500) };
        struct Shared {
            lock: RawUnfairLock,
            k: Emulated,
            count: core::cell::UnsafeCell<u64>,
        }
        // SAFETY: `count` is only touched while `lock` is held.
        unsafe impl Sync for Shared {}
        let sh = Arc::new(Shared {
            lock: RawUnfairLock::new(),
            k: Emulated::default(),
            count: core::cell::UnsafeCell::new(0),
        });
        let start = Arc::new(std::sync::Barrier::new(threads));
        let (done_tx, done) = std::sync::mpsc::channel();
        let handles: std::vec::Vec<_> = (0..threads)
            .map(|_| {
                let (sh, start, done_tx) = (Arc::clone(&sh), Arc::clone(&start), done_tx.clone());
                std::thread::spawn(move || {
                    start.wait();
                    for _ in 0..rounds {
                        let name = sh.lock.lock(&sh.k);
                        assert!(is_owner(sh.lock.word.load(Ordering::Relaxed), name));
                        // SAFETY: the lock is held.
                        let before = unsafe { *sh.count.get() };
                        // Hold the lock across a reschedule, so the others
                        // pile up as sleeping waiters.
                        std::thread::yield_now();
                        // SAFETY: still held.
                        unsafe { *sh.count.get() = before + 1 };
                        sh.lock.unlock(&sh.k, name);
                    }
                    done_tx.send(()).unwrap();
                })
            })
            .collect();
        // A lost wake-up leaves a waiter asleep forever: fail, not hang.
        for _ in 0..threads {
            done.recv_timeout(std::time::Duration::from_secs(60))
                .expect("a waiter was never woken (lost wake-up)");
        }
        for h in handles {
            h.join().unwrap();
        }
        // SAFETY: every thread has finished.
        assert_eq!(unsafe { *sh.count.get() }, threads as u64 * rounds);
        assert!(!sh.lock.is_locked());
        assert_eq!(
            *sh.k.state.lock().unwrap(),
            (0, 0),
            "no waiter, no token left"
        );
    }

    #[test]
    fn try_lock_and_force_unlock() {
        let k = Emulated::default();
        let l = RawUnfairLock::new();
        let me = l.try_lock(&k).expect("free");
        assert_eq!(l.word.load(Ordering::Relaxed), owner_value(me));
        assert_eq!(l.try_lock(&k), None, "held");
        // SAFETY: single-threaded test, as in a fork child.
        unsafe { l.force_unlock(&k) };
        assert!(!l.is_locked());
        let me = l.lock(&k);
        l.unlock(&k, me);
        assert!(!l.is_locked());
    }
}
