//! Wasm linear memory on top of a [`PageAllocator`].
//!
//! A [`LinearMemory`] owns one [`Reservation`] for its whole life and never
//! moves: the base address an AOT compiler bakes into its code stays valid
//! across every `grow`, shared or not.
//!
//! # Address space
//! * 32-bit memories with [`Bounds::Guarded`] (the default) reserve the full
//!   4 GiB plus a guard after it. With the default guard
//!   ([`MemoryConfig::DEFAULT_GUARD`], 4 GiB + 64 KiB) every access
//!   `base + zext(addr) + offset + size` with 32-bit `addr` and `offset` and
//!   `size <= 16` stays inside the reservation, so AOT code may elide bounds
//!   checks: an access past the current size hits an inaccessible page and
//!   faults.
//! * [`Bounds::Explicit`] (required for memory64) reserves just the maximum,
//!   at most [`MemoryConfig::max_reservation`] (but always the initial size),
//!   with no guard: compiled code must check bounds itself. A memory never
//!   grows past its reservation: such a grow fails, as Wasm allows.
//!
//! # Sizes
//! Everything is derived from the allocator's run-time page size (4, 16 or
//! 64 KiB); a Wasm page (64 KiB) is always a whole number of OS pages.
//!
//! # Memory tagging
//! With [`MemoryConfig::mte`] on a CPU with MTE (Linux aarch64), pages are
//! committed with `PROT_MTE`, the accessible part carries one random tag
//! `T != 0` and [`LinearMemory::base`] returns a pointer carrying `T`. The
//! tag comes from IRG in the creating thread, so that thread must have
//! enabled MTE with an include mask allowing a non-zero tag
//! (`os::linux::mte::enable`): otherwise IRG can only give tag 0, the tag
//! of every untagged pointer, and creation fails with
//! [`MemoryError::Invalid`] rather than make a memory nothing checks. Tag
//! checks fault only in threads that enabled them
//! (`os::linux::mte::enable`), and only later, without the address, in
//! asynchronous mode; so a tagged memory also keeps one OS page right
//! after the maximum (even with [`Bounds::Explicit`]) as an *inaccessible*
//! guard (`PROT_NONE`, never committed): a stray pointer derived from the
//! base that runs past the maximum takes a protection fault there
//! (SIGSEGV, `SEGV_ACCERR`) in every thread, whatever its tag-check mode.
//! The page needs no tag: the permission check comes before the tag check,
//! so no access to it ever reaches one. Grow tags the new pages (STG,
//! which makes them resident). `reset` re-tags and zeroes the initial pages
//! with STZG instead of decommitting them, because decommit
//! (`MADV_DONTNEED`) may drop tags; the pages past the initial size are
//! decommitted like an untagged memory's (zeroed and given back), and the
//! grow that brings them back tags them again (and zeroes them, when the
//! OS refused the decommit: see [`LinearMemory::reset`]).
//!
//! # Concurrency
//! All methods take `&self`. `grow` and `reset` serialise on an internal
//! lock; `size` and `base` never block. A shared memory only ever grows, so
//! a size read once stays a valid bound for `fill` and `copy`. Accesses from
//! several threads to the same bytes of a shared memory race as Wasm
//! threads do; the Rust code here only touches memory through raw pointers.

use core::hint::spin_loop;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::errno::Errno;
use crate::futex::FutexLike;
use crate::page::{PageAllocator, Protection, Reservation, ReserveOptions};

/// Bytes in a Wasm page.
pub const WASM_PAGE_SIZE: u64 = 65536;
/// The most pages a 32-bit memory may have (4 GiB).
pub const MAX_PAGES_32: u64 = 1 << 16;
/// The most pages a memory64 may have (2^64 bytes).
pub const MAX_PAGES_64: u64 = 1 << 48;

/// How compiled code keeps accesses in bounds.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Bounds {
    /// 32-bit memories only: reserve 4 GiB plus `guard` inaccessible bytes,
    /// so code may elide bounds checks for offsets the guard covers.
    Guarded {
        /// Bytes of inaccessible address space after the 4 GiB.
        guard: u64,
    },
    /// No guard: reserve only what the memory can grow to; code checks
    /// every access. Required for memory64; useful where address space is
    /// small.
    Explicit,
}

/// What to create (see [`LinearMemory::new`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MemoryConfig {
    /// Initial size in Wasm pages.
    pub initial_pages: u64,
    /// Declared maximum in Wasm pages (`None`: the index type's limit).
    pub maximum_pages: Option<u64>,
    /// A shared memory (threads proposal): needs a maximum; never shrinks,
    /// so [`LinearMemory::reset`] refuses it.
    pub shared: bool,
    /// 64-bit indices (memory64): needs [`Bounds::Explicit`].
    pub memory64: bool,
    /// Ask for transparent huge pages (a hint; see
    /// [`PageAllocator::advise_huge_pages`]). Ignored where unsupported.
    pub huge_pages: bool,
    /// Guard-based or explicit bounds.
    pub bounds: Bounds,
    /// The most bytes an `Explicit` memory reserves when its maximum is
    /// larger or absent (memory64 maxima reach 2^64 bytes); it cannot grow
    /// past its reservation (grow then fails, as Wasm allows).
    pub max_reservation: u64,
    /// Tag the memory with MTE where the CPU has it (Linux aarch64); plain
    /// untagged memory elsewhere ([`LinearMemory::tag`] tells which). Where
    /// MTE exists, the creating thread must have called
    /// `os::linux::mte::enable` (else [`MemoryError::Invalid`]: its include
    /// mask allows no tag but 0). See the module docs, "Memory tagging".
    pub mte: bool,
    /// How much of the initial size [`LinearMemory::reset`] zeroes in place
    /// (keeping it resident) at least, whatever its `keep_resident`
    /// argument; the rest is decommitted. Default
    /// [`DEFAULT_RESET_ZERO_IN_PLACE`](Self::DEFAULT_RESET_ZERO_IN_PLACE);
    /// 0 decommits everything but `keep_resident` (the behaviour before
    /// this setting). See [`LinearMemory::reset`] for the measurements
    /// behind the default.
    pub reset_zero_in_place: u64,
}

impl MemoryConfig {
    /// The guard that covers any 32-bit offset plus a 16-byte access.
    pub const DEFAULT_GUARD: u64 = (4 << 30) + WASM_PAGE_SIZE;
    /// Default for [`max_reservation`](Self::max_reservation): 4 GiB.
    pub const DEFAULT_MAX_RESERVATION: u64 = 4 << 30;
    /// Default for [`reset_zero_in_place`](Self::reset_zero_in_place):
    /// 64 MiB.
    pub const DEFAULT_RESET_ZERO_IN_PLACE: u64 = 64 << 20;

    /// A 32-bit, unshared, guarded memory of `initial_pages` with no maximum.
    pub const fn new(initial_pages: u64) -> Self {
        Self {
            initial_pages,
            maximum_pages: None,
            shared: false,
            memory64: false,
            huge_pages: false,
            bounds: Bounds::Guarded {
                guard: Self::DEFAULT_GUARD,
            },
            max_reservation: Self::DEFAULT_MAX_RESERVATION,
            mte: false,
            reset_zero_in_place: Self::DEFAULT_RESET_ZERO_IN_PLACE,
        }
    }
}

/// Why a memory operation failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MemoryError {
    /// The configuration breaks a rule (initial > maximum, a maximum above
    /// the index type's limit, shared without a maximum, memory64 with a
    /// guard, reset of a shared memory, a tagged memory created by a thread
    /// whose MTE include mask allows no tag but 0).
    Invalid,
    /// A range lies (partly) outside the memory's current size.
    OutOfBounds,
    /// `address + length` (or a size in bytes) does not fit in 64 bits.
    Overflow,
    /// `grow` would pass the maximum (declared, or what the reservation
    /// holds).
    OverMaximum,
    /// The operating system refused address space or memory.
    Os(Errno),
}

/// A Wasm linear memory (see the [module docs](self)).
#[derive(Debug)]
pub struct LinearMemory<A: PageAllocator> {
    alloc: A,
    res: Reservation,
    /// Current size in bytes (a multiple of [`WASM_PAGE_SIZE`]).
    size: AtomicU64,
    initial_pages: u64,
    /// The effective maximum: declared, or the limit, capped by the
    /// reservation.
    maximum_pages: u64,
    shared: bool,
    memory64: bool,
    /// The MTE tag of the accessible part (never 0), when tagged.
    tag: Option<u8>,
    /// Bytes in `[size, stale_end)` may still hold data from before a
    /// reset whose decommit the OS refused; `grow` zeroes them before
    /// handing them out. Everything past `max(size, stale_end)` reads
    /// zero when committed. Changed only under `lock`.
    stale_end: AtomicU64,
    /// [`MemoryConfig::reset_zero_in_place`].
    reset_zero_in_place: u64,
    lock: GrowLock,
}

/// The grow/reset lock, chosen per platform (the one seam to change when
/// the lock changes). Its holder makes a system call (`mprotect`), so a
/// waiter must not spin for long: with more threads than CPUs (Wasm thread
/// pools) a preempted holder would make every waiter burn its time slice.
/// * Linux: [`FutexLock`], a short spin and then a futex sleep.
/// * macOS: `os::macos::MacOsUnfairLock`, the `os_unfair_lock` protocol,
///   which sleeps in the kernel and lends the waiters' priority to the
///   holder.
/// * QNX, Zephyr, bare metal: [`SpinLock`]. Bare metal has no scheduler to
///   sleep in; on QNX and Zephyr the platform futexes need kernel objects
///   or an integrator's table, which a lock inside every memory should not
///   take (noted as not done).
#[cfg(wrt_os = "macos")]
type GrowLock = crate::os::macos::MacOsUnfairLock;
/// See the macOS definition.
#[cfg(wrt_os = "linux")]
type GrowLock = FutexLock<crate::os::linux::LinuxFutex>;
/// See the macOS definition.
#[cfg(not(any(wrt_os = "macos", wrt_os = "linux")))]
type GrowLock = SpinLock;

/// A lock that spins [`FutexLock::SPINS`] times and then sleeps on a
/// [`FutexLike`] (the grow/reset lock on Linux). The word is 0 (free), 1
/// (held) or 2 (held, and a thread may sleep on it): the classic futex
/// mutex (Drepper, "Futexes Are Tricky", mutex 2), so an unlock makes a
/// system call only when someone may sleep.
#[derive(Debug)]
#[cfg_attr(not(wrt_os = "linux"), allow(dead_code))]
struct FutexLock<F: FutexLike> {
    word: AtomicU32,
    futex: F,
}

/// Holds a [`FutexLock`]; releases it (and wakes one sleeper if any may
/// sleep) on drop.
#[cfg_attr(not(wrt_os = "linux"), allow(dead_code))]
struct FutexGuard<'a, F: FutexLike>(&'a FutexLock<F>);

impl<F: FutexLike> Drop for FutexGuard<'_, F> {
    fn drop(&mut self) {
        if self.0.word.swap(0, Ordering::Release) == 2 {
            // An error loses nothing: the woken thread retries the swap.
            let _ = self.0.futex.wake(&self.0.word, 1);
        }
    }
}

#[cfg_attr(not(wrt_os = "linux"), allow(dead_code))]
impl<F: FutexLike + Default> FutexLock<F> {
    /// How many times a waiter checks the word before it sleeps: about
    /// the time of a short critical section, far below a time slice.
    const SPINS: u32 = 64;

    fn new() -> Self {
        FutexLock {
            word: AtomicU32::new(0),
            futex: F::default(),
        }
    }

    fn lock(&self) -> FutexGuard<'_, F> {
        for _ in 0..Self::SPINS {
            if self.word.load(Ordering::Relaxed) == 0
                && self
                    .word
                    .compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return FutexGuard(self);
            }
            spin_loop();
        }
        // Mark the lock contended; whoever holds it wakes one sleeper.
        while self.word.swap(2, Ordering::Acquire) != 0 {
            // A mismatch, a wake or an error: try again.
            let _ = self.futex.wait(&self.word, 2, None);
        }
        FutexGuard(self)
    }

    /// # Safety
    /// As for [`LinearMemory::unlock_after_fork`].
    unsafe fn force_unlock(&self) {
        self.word.store(0, Ordering::Release);
    }
}

/// A test-and-set spin lock (the grow/reset lock where nothing sleeps).
#[cfg_attr(any(wrt_os = "macos", wrt_os = "linux"), allow(dead_code))]
#[derive(Debug)]
struct SpinLock(AtomicBool);

/// Holds a [`SpinLock`]; releases it on drop.
#[cfg_attr(any(wrt_os = "macos", wrt_os = "linux"), allow(dead_code))]
struct SpinGuard<'a>(&'a AtomicBool);

impl Drop for SpinGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg_attr(any(wrt_os = "macos", wrt_os = "linux"), allow(dead_code))]
impl SpinLock {
    const fn new() -> Self {
        SpinLock(AtomicBool::new(false))
    }

    fn lock(&self) -> SpinGuard<'_> {
        while self
            .0
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_loop();
        }
        SpinGuard(&self.0)
    }

    /// # Safety
    /// As for [`LinearMemory::unlock_after_fork`].
    unsafe fn force_unlock(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// `usize` from `u64`, or `Overflow` (32-bit hosts).
fn to_usize(n: u64) -> Result<usize, MemoryError> {
    usize::try_from(n).map_err(|_| MemoryError::Overflow)
}

impl<A: PageAllocator> LinearMemory<A> {
    /// Reserves the address space and commits the initial pages.
    pub fn new(alloc: A, cfg: &MemoryConfig) -> Result<Self, MemoryError> {
        let limit = if cfg.memory64 {
            MAX_PAGES_64
        } else {
            MAX_PAGES_32
        };
        let declared_max = cfg.maximum_pages.unwrap_or(limit);
        if declared_max > limit
            || cfg.initial_pages > declared_max
            || (cfg.shared && cfg.maximum_pages.is_none())
            || (cfg.memory64 && cfg.bounds != Bounds::Explicit)
            || !page_size_ok(alloc.page_size())
        {
            return Err(MemoryError::Invalid);
        }
        // Saturating: memory64 sizes reach 2^64 bytes, which no reservation
        // holds; such a memory fails below with `OverMaximum`.
        let initial_bytes = cfg.initial_pages.saturating_mul(WASM_PAGE_SIZE);
        let (usable, guard) = match cfg.bounds {
            Bounds::Guarded { guard } => (MAX_PAGES_32 * WASM_PAGE_SIZE, guard),
            Bounds::Explicit => {
                let max_bytes = cfg
                    .maximum_pages
                    .map_or(u64::MAX, |m| m.saturating_mul(WASM_PAGE_SIZE));
                (max_bytes.min(cfg.max_reservation).max(initial_bytes), 0)
            }
        };
        if usable > isize::MAX as u64 / 4 {
            return Err(MemoryError::OverMaximum);
        }
        let tagged = cfg.mte && mte::available();
        // The tag guard: one inaccessible OS page after the usable part
        // (tagged memories; see "Memory tagging").
        let tag_guard = if tagged { alloc.page_size() as u64 } else { 0 };
        // A zero-page memory still reserves one Wasm page, so the base is a
        // real, inaccessible address.
        let usable = usable.max(WASM_PAGE_SIZE);
        let opts = ReserveOptions::new(to_usize(usable + tag_guard)?).guard_after(to_usize(guard)?);
        let res = alloc.reserve(&opts).map_err(MemoryError::Os)?;
        let maximum_pages = declared_max.min((res.len() as u64 - tag_guard) / WASM_PAGE_SIZE);
        let mem = LinearMemory {
            alloc,
            res,
            size: AtomicU64::new(0),
            initial_pages: cfg.initial_pages,
            maximum_pages,
            shared: cfg.shared,
            memory64: cfg.memory64,
            tag: None,
            stale_end: AtomicU64::new(0),
            reset_zero_in_place: cfg.reset_zero_in_place,
            lock: GrowLock::new(),
        };
        let mem = if tagged { mem.with_random_tag()? } else { mem };
        if cfg.huge_pages {
            // A hint: a platform without it simply does not use huge pages.
            let _ = mem.alloc.advise_huge_pages(&mem.res, 0, mem.res.len());
        }
        if cfg.initial_pages > maximum_pages {
            return Err(MemoryError::OverMaximum); // `mem` drops: released
        }
        mem.grow(cfg.initial_pages)?;
        Ok(mem)
    }

    /// The first byte of the memory. Stable for the memory's life. For a
    /// tagged memory the pointer carries the memory's tag.
    #[inline]
    pub fn base(&self) -> NonNull<u8> {
        match self.tag {
            None => self.res.base(),
            Some(tag) => mte::with_tag(self.res.base(), tag),
        }
    }

    /// The MTE tag of a tagged memory; `None` for untagged memory (MTE not
    /// asked for, or not available).
    pub fn tag(&self) -> Option<u8> {
        self.tag
    }

    /// Picks the memory's tag (never 0). The tag guard, the last OS page
    /// of the reservation, stays as reserved: inaccessible to every thread.
    fn with_random_tag(mut self) -> Result<Self, MemoryError> {
        self.tag = Some(mte::random_nonzero_tag(self.res.base())?);
        Ok(self)
    }

    /// Current size in Wasm pages.
    #[inline]
    pub fn size_pages(&self) -> u64 {
        self.size.load(Ordering::Acquire) / WASM_PAGE_SIZE
    }

    /// Current size in bytes.
    #[inline]
    pub fn size_bytes(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// The effective maximum in pages (declared, capped by the reservation).
    pub fn maximum_pages(&self) -> u64 {
        self.maximum_pages
    }

    /// Whether the memory is shared.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Whether the memory has 64-bit indices.
    pub fn is_memory64(&self) -> bool {
        self.memory64
    }

    /// The allocator the memory was made with.
    pub fn allocator(&self) -> &A {
        &self.alloc
    }

    /// The underlying reservation.
    pub fn reservation(&self) -> &Reservation {
        &self.res
    }

    /// Releases the grow/reset lock whoever holds it, in the child of a
    /// `fork()` (the holder, another thread of the parent, does not exist
    /// there).
    ///
    /// # Safety
    /// Only in the child of a `fork()`, while it has a single thread.
    pub unsafe fn unlock_after_fork(&self) {
        // SAFETY: forwarded (single-threaded fork child).
        unsafe { self.lock.force_unlock() }
    }

    fn lock(&self) -> impl Sized + '_ {
        self.lock.lock()
    }

    /// `memory.grow`: adds `delta` pages and returns the old size in pages.
    ///
    /// Commits only the new pages, with one protect call. On any error the
    /// size and contents are exactly as before. `delta == 0` returns the
    /// size without a system call.
    pub fn grow(&self, delta: u64) -> Result<u64, MemoryError> {
        let _guard = self.lock();
        let old_bytes = self.size.load(Ordering::Relaxed);
        let old = old_bytes / WASM_PAGE_SIZE;
        if delta == 0 {
            return Ok(old);
        }
        let new = old.checked_add(delta).ok_or(MemoryError::OverMaximum)?;
        if new > self.maximum_pages {
            return Err(MemoryError::OverMaximum);
        }
        // new <= maximum_pages <= reservation / 64 KiB: fits in usize.
        let (offset, len) = (to_usize(old_bytes)?, to_usize(delta * WASM_PAGE_SIZE)?);
        // The range lies past the current size, where no reference (Rust
        // or Wasm) may point: committing or protecting it is sound.
        let committed = match self.tag {
            // SAFETY: see above.
            None => unsafe { self.alloc.commit(&self.res, offset, len) },
            // SAFETY: see above.
            Some(_) => unsafe {
                let mte = Protection::READ_WRITE.with_mte();
                self.alloc.protect(&self.res, offset, len, mte)
            }
            .and_then(|()| self.tag_range(offset, len)),
        };
        if let Err(e) = committed {
            // An OS may fail half-way; put every page past the size back
            // to inaccessible so guard-based bounds stay exact.
            // SAFETY: as above.
            let _ = unsafe { self.alloc.protect(&self.res, offset, len, Protection::NONE) };
            return Err(MemoryError::Os(e));
        }
        let new_bytes = new * WASM_PAGE_SIZE;
        let stale_end = self.stale_end.load(Ordering::Relaxed);
        if stale_end > old_bytes {
            // Pages a reset could not decommit: zero them before they
            // become part of the memory (they are committed and tagged).
            let stale = to_usize(stale_end.min(new_bytes) - old_bytes)?;
            // SAFETY: [offset, offset + stale) lies in the range committed
            // above, past the size, where nothing refers to it.
            unsafe { crate::arch::mem::fill(self.base().as_ptr().wrapping_add(offset), 0, stale) };
            if stale_end <= new_bytes {
                self.stale_end.store(0, Ordering::Relaxed);
            }
        }
        self.size.store(new_bytes, Ordering::Release);
        Ok(old)
    }

    /// Gives `[offset, offset + len)` the memory's tag (tagged memories).
    fn tag_range(&self, offset: usize, len: usize) -> Result<(), Errno> {
        match self.tag {
            None => Ok(()),
            // SAFETY: the range is committed read-write with PROT_MTE and
            // lies past the size (or the caller holds the memory idle).
            Some(_) => unsafe { mte::set_tags(self.base().as_ptr().wrapping_add(offset), len) },
        }
    }

    /// Checks `[addr, addr + len)` against the current size.
    fn check(&self, addr: u64, len: u64) -> Result<usize, MemoryError> {
        let end = addr.checked_add(len).ok_or(MemoryError::Overflow)?;
        if end > self.size_bytes() {
            return Err(MemoryError::OutOfBounds);
        }
        to_usize(addr)
    }

    /// `memory.fill`: sets `len` bytes at `dst` to `value`. Bounds are
    /// checked before any byte is written; `len == 0` at `dst == size` is
    /// fine.
    pub fn fill(&self, dst: u64, value: u8, len: u64) -> Result<(), MemoryError> {
        let dst = self.check(dst, len)?;
        // SAFETY: [dst, dst + len) is within the committed size (checked).
        unsafe {
            crate::arch::mem::fill(self.base().as_ptr().wrapping_add(dst), value, len as usize)
        };
        Ok(())
    }

    /// `memory.copy`: copies `len` bytes from `src` to `dst`; the ranges may
    /// overlap. Both are checked before any byte is written.
    pub fn copy(&self, dst: u64, src: u64, len: u64) -> Result<(), MemoryError> {
        let dst = self.check(dst, len)?;
        let src = self.check(src, len)?;
        let base = self.base().as_ptr();
        // SAFETY: both ranges are within the committed size (checked);
        // `arch::mem::copy` handles overlap.
        unsafe {
            crate::arch::mem::copy(base.wrapping_add(dst), base.wrapping_add(src), len as usize)
        };
        Ok(())
    }

    /// Brings the memory back to its initial size with zeroed contents, for
    /// instance pooling: pages past the initial size become inaccessible
    /// and are given back. Of the initial size, the first
    /// `max(keep_resident, reset_zero_in_place)` bytes (see
    /// [`MemoryConfig::reset_zero_in_place`]; rounded up to OS pages, at
    /// most the initial size) are zeroed in place and stay resident; the
    /// rest is decommitted (reads zero, costs no memory until touched).
    /// Shared memories cannot be reset.
    ///
    /// Why zero in place by default, up to 64 MiB: a decommitted page that
    /// is used again costs a page fault, in which the kernel zeroes the
    /// page itself, so decommit + re-touch does the zeroing `memset` does
    /// plus a fault and the `madvise` walk: for resident pages that the
    /// next instance uses, zeroing in place wins on every machine, not
    /// just on one where it was measured. On the 2-core x86_64 VM of the
    /// README, reset + re-touch with decommit took 15x to 51x a `memset`
    /// of the same bytes at 256 KiB, 4 MiB and 64 MiB, and zeroing in
    /// place 1.00x to 1.72x (README, Performance; `cargo bench --bench
    /// memory --features capi -- reset_retouch`).
    /// Decommit wins only for pages never touched (zeroing them in place
    /// faults them in) or not touched again, and it gives memory back:
    /// the threshold bounds that cost (at worst one fault per page up to
    /// it, what a re-touch would cost anyway) and the memory a pooled
    /// memory keeps resident. A caller that knows better passes
    /// `keep_resident` (more kept) or sets the threshold (0: decommit all
    /// but `keep_resident`).
    ///
    /// Reset succeeds completely or changes nothing. The one step that can
    /// fail comes first: making the pages past the initial size
    /// inaccessible; if the OS refuses (even half-way), their protection is
    /// put back and the error returned, with size and contents as before
    /// (unless the OS also refuses to undo it). When the OS refuses the
    /// decommit (as Linux does for locked memory, e.g. under
    /// `mlockall(MCL_FUTURE)`), the initial pages are zeroed in place
    /// instead (they stay resident), and the pages past them, already
    /// inaccessible, are zeroed by the `grow` that brings them back.
    ///
    /// # Safety
    /// No thread may access the memory during the call (no Rust reference,
    /// no running Wasm code).
    pub unsafe fn reset(&self, keep_resident: u64) -> Result<(), MemoryError> {
        if self.shared {
            return Err(MemoryError::Invalid);
        }
        let _guard = self.lock();
        let page = self.alloc.page_size() as u64;
        let cur = self.size.load(Ordering::Relaxed);
        let init = self.initial_pages * WASM_PAGE_SIZE;
        let keep = keep_resident
            .max(self.reset_zero_in_place)
            .min(init)
            .next_multiple_of(page)
            .min(init);
        let (keep_u, init_u, cur_u) = (to_usize(keep)?, to_usize(init)?, to_usize(cur)?);
        let base = self.base().as_ptr();
        if cur > init {
            // SAFETY: the caller guarantees nothing accesses the memory.
            let hidden = unsafe {
                self.alloc
                    .protect(&self.res, init_u, cur_u - init_u, Protection::NONE)
            };
            if let Err(e) = hidden {
                // The OS may have failed half-way: make the range as
                // accessible as it was (grow committed it so).
                let access = match self.tag {
                    None => Protection::READ_WRITE,
                    Some(_) => Protection::READ_WRITE.with_mte(),
                };
                // SAFETY: as above; this restores the protection the
                // range had on entry.
                let _ = unsafe {
                    self.alloc
                        .protect(&self.res, init_u, cur_u - init_u, access)
                };
                return Err(MemoryError::Os(e));
            }
            // Nothing below can fail: the reset completes from here on.
            self.size.store(init, Ordering::Release);
        }
        // Decommit zeroes. A tagged memory's initial pages are zeroed with
        // STZG below instead (decommit may drop tags); past them, grow
        // tags the pages again.
        let from = if self.tag.is_some() { init_u } else { keep_u };
        // SAFETY: as above.
        let decommitted = unsafe { self.alloc.decommit(&self.res, from, cur_u - from) }.is_ok();
        let stale_end = self.stale_end.load(Ordering::Relaxed);
        if !decommitted && cur > init {
            // [init, cur) is inaccessible and may keep its data (even a
            // refusal half-way through is covered): grow zeroes it.
            self.stale_end.store(stale_end.max(cur), Ordering::Relaxed);
        } else if stale_end <= cur {
            self.stale_end.store(0, Ordering::Relaxed);
        }
        // What is left to zero by plain stores: [0, fill_len).
        let fill_len = match self.tag {
            // SAFETY: [0, init) is committed with PROT_MTE (init <= size)
            // and carries the memory's tag; nothing accesses it.
            Some(_) if unsafe { mte::set_tags_zero(base, init_u) }.is_ok() => 0,
            // Cannot happen (aligned, MTE present); the tags are still the
            // memory's, so plain stores through `base` zero the data.
            Some(_) => init_u,
            None if decommitted => keep_u,
            None => init_u,
        };
        // SAFETY: [0, fill_len) is committed read-write (fill_len <= init
        // <= size) and reachable through `base`; nothing accesses it.
        unsafe { crate::arch::mem::fill(base, 0, fill_len) };
        Ok(())
    }
}

impl<A: PageAllocator> Drop for LinearMemory<A> {
    fn drop(&mut self) {
        // SAFETY: `self.res` is not used again (`self` is being dropped and
        // `Reservation` has no destructor of its own).
        let res = unsafe { core::ptr::read(&self.res) };
        // SAFETY: `&mut self`: nothing else can use the memory any more.
        let _ = unsafe { self.alloc.release(res) };
    }
}

/// The MTE operations a tagged memory needs: Linux aarch64's, and nothing
/// elsewhere (`available` is false, so no tagged memory is ever made).
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
mod mte {
    use core::ptr::NonNull;

    use super::MemoryError;
    pub(super) use crate::os::linux::mte::{available, set_tags, set_tags_zero};

    /// `p` with the tag `tag`.
    pub(super) fn with_tag(p: NonNull<u8>, tag: u8) -> NonNull<u8> {
        p.map_addr(|a| {
            let tagged = crate::os::linux::mte::with_tag(a.get() as *mut u8, tag) as usize;
            // Setting bits of a non-zero address keeps it non-zero.
            core::num::NonZeroUsize::new(tagged).unwrap_or(a)
        })
    }

    /// A random tag other than 0 (0 is what fresh and guard pages carry,
    /// and what untagged pointers carry), or [`MemoryError::Invalid`] when
    /// the calling thread's include mask allows no other tag (IRG then
    /// yields 0: see [`crate::os::linux::mte::random_tag`]).
    pub(super) fn random_nonzero_tag(p: NonNull<u8>) -> Result<u8, MemoryError> {
        let tagged = crate::os::linux::mte::random_tag(p.as_ptr(), 1).map_err(MemoryError::Os)?;
        match crate::os::linux::mte::tag_of(tagged) {
            0 => Err(MemoryError::Invalid),
            tag => Ok(tag),
        }
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "aarch64")))]
mod mte {
    use core::ptr::NonNull;

    use crate::errno::{Errno, Result};

    pub(super) fn available() -> bool {
        false
    }
    pub(super) fn with_tag(p: NonNull<u8>, _tag: u8) -> NonNull<u8> {
        p
    }
    pub(super) fn random_nonzero_tag(
        _p: NonNull<u8>,
    ) -> core::result::Result<u8, super::MemoryError> {
        Err(super::MemoryError::Os(Errno::NOTSUP))
    }
    pub(super) unsafe fn set_tags(_p: *mut u8, _len: usize) -> Result<()> {
        Err(Errno::NOTSUP)
    }
    pub(super) unsafe fn set_tags_zero(_p: *mut u8, _len: usize) -> Result<()> {
        Err(Errno::NOTSUP)
    }
}

/// A Wasm page must be a whole number of OS pages.
fn page_size_ok(page: usize) -> bool {
    page.is_power_of_two() && page as u64 <= WASM_PAGE_SIZE
}

/// The Linux grow lock under contention: more threads than CPUs, so
/// waiters really sleep on the futex and are really woken.
#[cfg(all(test, feature = "std", wrt_os = "linux"))]
mod tests {
    use core::cell::UnsafeCell;
    use std::thread;

    use super::FutexLock;
    use crate::os::linux::LinuxFutex;

    struct Counted {
        lock: FutexLock<LinuxFutex>,
        count: UnsafeCell<u64>,
    }

    // SAFETY: `count` is only touched with `lock` held.
    unsafe impl Sync for Counted {}

    impl Counted {
        /// One increment under the lock; `yield_inside` gives the CPU away
        /// while holding it.
        fn bump(&self, yield_inside: bool) {
            let _held = self.lock.lock();
            // SAFETY: the lock is held: no other access.
            let n = unsafe { &mut *self.count.get() };
            let before = *n;
            if yield_inside {
                thread::yield_now();
            }
            *n = before + 1;
        }
    }

    /// 8 threads x 2000 increments of a plain counter under the lock, with
    /// a yield inside the critical section so that holders are preempted
    /// and waiters go to sleep: the total is exact (mutual exclusion) and
    /// the test ends (no lost wake-up).
    #[test]
    fn futex_lock_excludes_and_wakes() {
        let c = Counted {
            lock: FutexLock::new(),
            count: UnsafeCell::new(0),
        };
        thread::scope(|s| {
            for _ in 0..8 {
                s.spawn(|| {
                    for i in 0..2000 {
                        c.bump(i % 64 == 0);
                    }
                });
            }
        });
        assert_eq!(c.count.into_inner(), 16_000);
        assert_eq!(c.lock.word.into_inner(), 0, "free at the end");
    }
}
