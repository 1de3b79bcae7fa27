//! [`BumpPages`]: a [`PageAllocator`] over one region of memory the
//! integrator hands over (a linker-script region, a static array, a block
//! taken from an RTOS heap). No MMU, no heap, no `alloc`: the bare-metal
//! backend uses it as is, and the Zephyr backend uses it for its region
//! allocator.
//!
//! # What holds, and what does not
//! There is no memory management unit under this allocator, so of the
//! [`PageAllocator`] contract exactly this holds:
//!
//! | operation | here |
//! |---|---|
//! | `reserve` | carves `guard_before + max + guard_after` (rounded to pages) off the top of the region, up front; [`Errno::NOMEM`] when the region is full. The usable part reads as zero |
//! | `commit` | checks the range and does nothing else: the memory is already readable and writable |
//! | `decommit` | zeroes the range (so "reads as zero" holds); no memory goes back to anybody |
//! | `protect` | `READ_WRITE` (without BTI/MTE) is the state every page is always in: `Ok`, nothing changes. Anything else (`NONE`, `READ`, `READ_EXEC`, BTI, MTE) is [`Errno::NOTSUP`]: nothing here can enforce it |
//! | `release` | reclaims the reservation only if it is the most recent live one (top of the bump pointer); otherwise it returns `Ok` and the memory stays used until [`BumpPages::reset`] |
//!
//! **Nothing faults** unless the integrator installs a [`ProtectHook`]
//! ([`BumpPages::set_protect_hook`]). Without one, guard regions and
//! reserved-but-uncommitted pages are ordinary memory: a stray access reads
//! or overwrites them silently. Guards only keep reservations apart. Code
//! that relies on guard pages to elide bounds checks (a 32-bit Wasm memory
//! without explicit bounds) is not safe on this allocator; use explicit
//! bounds checks.
//!
//! # With a protect hook (an MMU the integrator manages)
//! The integrator owns the translation tables, so the allocator does not
//! write them: it calls the hook with page-aligned ranges to make them
//! accessible (valid, read-write) or inaccessible (invalid: an access takes
//! a translation fault), and the integrator edits its tables and
//! invalidates the TLBs of every core before returning. Then:
//!
//! | operation | with the hook |
//! |---|---|
//! | `reserve` | zeroes the usable part (as above), then makes the whole reservation, guards included, inaccessible |
//! | `commit`, `protect(READ_WRITE)` | makes the range accessible |
//! | `protect(NONE)` | makes the range inaccessible (other protections stay [`Errno::NOTSUP`]) |
//! | `decommit` | [`Errno::NOTSUP`]: the range may be inaccessible and the allocator does not track which pages are, so it cannot zero it with stores (a linear memory's reset then zeroes its pages in place, and `grow` zeroes the pages a reset left behind) |
//! | `release` | makes the whole reservation accessible again before giving it back: memory above the bump pointer is always accessible, so `reserve` can zero it |
//!
//! A hook failure (non-zero return) fails the operation with
//! [`Errno::NOMEM`] (`reserve` gives the claim back). Reservations made
//! before the hook was installed are accessible throughout until one of
//! the operations above changes a range of them.
//!
//! **Grow in place.** A reservation is its maximum from the start, so a
//! linear memory grows by committing more of it (a no-op here); it never
//! moves.
//!
//! # Zero on reserve
//! The usable part of a new reservation reads as zero. The allocator keeps
//! a high-water mark: everything at or above it has never been handed out.
//! Memory above the mark is zero if the region was zero to begin with
//! ([`BumpPages::new_zeroed`], e.g. a `.bss` array); below it (reused after a
//! `release`), or for a region of unknown contents ([`BumpPages::new`]),
//! `reserve` zeroes the usable part itself. Guards are never zeroed.
//!
//! # Concurrency
//! Lock-free: the bump pointer and the high-water mark are atomics updated
//! with compare-and-swap / fetch-max, so `reserve` and `release` may run on
//! any number of cores or threads at once, and a preempted caller never
//! blocks another (no spinning lock, which matters under a priority
//! scheduler such as Zephyr's). Atomics need exclusive-monitor or LSE
//! support on the allocator's own memory: Normal (cacheable) memory, i.e.
//! MMU and data cache on for the allocator object. The region itself is
//! only read and written with plain stores.
//!
//! # Page size
//! [`BumpPages::DEFAULT_PAGE_SIZE`] (4096) unless constructed with
//! [`BumpPages::with_page_size`]: any power of two of at least 4096 (the
//! trait's minimum). Reservations are aligned to it.

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use crate::errno::{Errno, Result};
use crate::page::{PageAllocator, Protection, Reservation, ReserveOptions};

/// The integrator's page-protection hook (see the [module docs](self)):
/// makes the page-aligned range `[start, start + len)` accessible
/// (`accessible != 0`: valid, read-write, Normal memory) or inaccessible
/// (`accessible == 0`: any access faults), on every core, before it
/// returns 0; non-zero means nothing changed. Called from any core or
/// thread, concurrently for disjoint ranges, never for a range outside the
/// region, and never from an exception handler.
pub type ProtectHook = unsafe extern "C" fn(start: *mut c_void, len: usize, accessible: i32) -> i32;

/// A bump allocator of reservations over one region (see the
/// [module docs](self) for what holds without an MMU).
#[derive(Debug)]
pub struct BumpPages {
    /// First byte of the region as given (the usable part starts at the
    /// first page boundary at or after it).
    start: NonNull<u8>,
    /// Bytes of the region as given.
    len: usize,
    /// The page size: a power of two, at least 4096.
    page: usize,
    /// Offset of the bump pointer from the first page boundary.
    top: AtomicUsize,
    /// Offset from the first page boundary at and above which the region
    /// is known to be zero; `usize::MAX` when nothing is known to be zero.
    clean: AtomicUsize,
    /// The [`ProtectHook`] as an address, or 0 (none; set once).
    hook: AtomicUsize,
}

// SAFETY: the region is owned by the allocator (constructor contracts);
// all shared state is atomic, and the memory of each reservation belongs
// to whoever holds its `Reservation` (the trait's unsafe methods carry that).
unsafe impl Send for BumpPages {}
// SAFETY: as above: `&BumpPages` only reaches atomics and address arithmetic.
unsafe impl Sync for BumpPages {}

impl BumpPages {
    /// The page size unless [`with_page_size`](Self::with_page_size) says
    /// otherwise.
    pub const DEFAULT_PAGE_SIZE: usize = 4096;

    /// An allocator over `len` bytes at `start`, whose contents are unknown
    /// (every reservation is zeroed by `reserve`).
    ///
    /// # Safety
    /// `start..start + len` is memory that is readable and writable for as
    /// long as the allocator or any reservation made from it is in use, and
    /// that nothing else reads or writes except through the reservations.
    pub const unsafe fn new(start: NonNull<u8>, len: usize) -> Self {
        Self {
            start,
            len,
            page: Self::DEFAULT_PAGE_SIZE,
            top: AtomicUsize::new(0),
            clean: AtomicUsize::new(usize::MAX),
            hook: AtomicUsize::new(0),
        }
    }

    /// As [`new`](Self::new), for a region that reads as zero now (a
    /// `.bss` array, memory the boot code cleared): fresh reservations are
    /// not zeroed again.
    ///
    /// # Safety
    /// As for [`new`](Self::new), and every byte of the region is zero.
    pub const unsafe fn new_zeroed(start: NonNull<u8>, len: usize) -> Self {
        Self {
            clean: AtomicUsize::new(0),
            // SAFETY: the caller's guarantees are a superset of `new`'s.
            ..unsafe { Self::new(start, len) }
        }
    }

    /// An allocator over a static buffer (contents unknown, so zeroed on
    /// reserve). The `'static mut` borrow makes the region the allocator's.
    pub fn from_static(region: &'static mut [u8]) -> Self {
        let len = region.len();
        let start = NonNull::from(region).cast::<u8>();
        // SAFETY: the exclusive 'static borrow gives the allocator the
        // region for the rest of the program.
        unsafe { Self::new(start, len) }
    }

    /// The same allocator with page size `page` (before any reservation).
    ///
    /// # Panics
    /// Unless `page` is a power of two of at least 4096.
    pub const fn with_page_size(self, page: usize) -> Self {
        assert!(
            page.is_power_of_two() && page >= 4096,
            "page size must be a power of two >= 4096"
        );
        Self { page, ..self }
    }

    /// Address of the first page boundary in the region and the usable
    /// bytes from there (0 when the region holds no whole page).
    fn bounds(&self) -> (usize, usize) {
        let start = self.start.as_ptr() as usize;
        let Some(base) = start.checked_next_multiple_of(self.page) else {
            return (start, 0);
        };
        let end = start.saturating_add(self.len);
        let usable = end.saturating_sub(base);
        (base, usable - usable % self.page)
    }

    /// Usable bytes of the region (whole pages from the first page boundary).
    pub fn capacity(&self) -> usize {
        self.bounds().1
    }

    /// Bytes not yet handed out (above the bump pointer).
    pub fn remaining(&self) -> usize {
        self.capacity() - self.top.load(Ordering::Acquire)
    }

    /// Makes the whole region available again.
    ///
    /// # Safety
    /// No reservation made from this allocator is used afterwards (their
    /// memory will be handed out again), and no `reserve` or `release`
    /// runs concurrently.
    pub unsafe fn reset(&self) {
        let top = self.top.load(Ordering::Acquire);
        // Whatever the hook made inaccessible is handed out (and zeroed by
        // `reserve`) again.
        let _ = self.call_hook(self.at(0), top, true);
        self.top.store(0, Ordering::Release);
    }

    /// Installs the integrator's [`ProtectHook`] (once; see the
    /// [module docs](self)). [`Errno::INVAL`] when one is installed already.
    ///
    /// # Safety
    /// `hook` keeps the [`ProtectHook`] contract for the rest of the
    /// program.
    pub unsafe fn set_protect_hook(&self, hook: ProtectHook) -> Result<()> {
        self.hook
            .compare_exchange(0, hook as usize, Ordering::AcqRel, Ordering::Acquire)
            .map(|_| ())
            .map_err(|_| Errno::INVAL)
    }

    /// Whether a [`ProtectHook`] is installed.
    pub fn has_protect_hook(&self) -> bool {
        self.hook.load(Ordering::Acquire) != 0
    }

    /// Calls the hook on `len` bytes at `p` (nothing without a hook, or
    /// for `len == 0`); [`Errno::NOMEM`] when it fails.
    fn call_hook(&self, p: NonNull<u8>, len: usize, accessible: bool) -> Result<()> {
        let hook = self.hook.load(Ordering::Acquire);
        if hook == 0 || len == 0 {
            return Ok(());
        }
        // SAFETY: a non-zero `hook` was stored from a `ProtectHook` by
        // `set_protect_hook`.
        let hook: ProtectHook = unsafe { core::mem::transmute::<usize, ProtectHook>(hook) };
        // SAFETY: the range lies in the region, page-aligned (callers pass
        // reservation ranges); the hook's contract does the rest.
        match unsafe { hook(p.as_ptr().cast(), len, i32::from(accessible)) } {
            0 => Ok(()),
            _ => Err(Errno::NOMEM),
        }
    }

    /// A pointer `offset` bytes into the usable part, with the region's
    /// provenance.
    fn at(&self, offset: usize) -> NonNull<u8> {
        let (base, _) = self.bounds();
        let skip = base - self.start.as_ptr() as usize;
        // SAFETY: callers pass offsets within [0, capacity], so the result
        // is inside the region or one past its usable end, and not null.
        unsafe { self.start.add(skip + offset) }
    }

    /// Checks that `r` lies in this allocator's region and returns its
    /// `(start, end)` offsets.
    fn offsets(&self, r: &Reservation) -> Result<(usize, usize)> {
        let (base, cap) = self.bounds();
        let start = (r.mapping_start().as_ptr() as usize).wrapping_sub(base);
        match start.checked_add(r.mapping_len()) {
            Some(end) if start <= cap && end <= cap => Ok((start, end)),
            _ => Err(Errno::INVAL),
        }
    }
}

/// Zeroes `len` bytes at `p`.
///
/// # Safety
/// `[p, p + len)` is writable and no reference points into it.
unsafe fn zero(p: NonNull<u8>, len: usize) {
    // SAFETY: forwarded from the caller.
    unsafe { crate::arch::mem::fill(p.as_ptr(), 0, len) };
}

impl PageAllocator for BumpPages {
    fn page_size(&self) -> usize {
        self.page
    }

    fn reserve(&self, opts: &ReserveOptions) -> Result<Reservation> {
        let (before, len, _after, total) = opts.rounded(self.page)?;
        let cap = self.capacity();
        // Claim [t, e) by moving the bump pointer.
        let mut t = self.top.load(Ordering::Acquire);
        let e = loop {
            let e = match t.checked_add(total) {
                Some(e) if e <= cap => e,
                _ => return Err(Errno::NOMEM),
            };
            match self
                .top
                .compare_exchange_weak(t, e, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break e,
                Err(now) => t = now,
            }
        };
        // Everything at or above the old mark was zero and untouched; the
        // claim is ours now, so move the mark past it.
        let mark = self.clean.fetch_max(e, Ordering::AcqRel);
        let (z0, z1) = (t + before, (t + before + len).min(mark));
        if z1 > z0 {
            // SAFETY: [z0, z1) lies in the claimed range, which nobody else
            // can reach until this function returns it.
            unsafe { zero(self.at(z0), z1 - z0) };
        }
        if let Err(err) = self.call_hook(self.at(t), total, false) {
            // Back to accessible (the hook may have failed half-way), then
            // give the claim back if nothing was claimed after it.
            let _ = self.call_hook(self.at(t), total, true);
            let _ = self
                .top
                .compare_exchange(e, t, Ordering::AcqRel, Ordering::Acquire);
            return Err(err);
        }
        // SAFETY: [t, e) is page-aligned address space claimed above, with
        // before + len <= total.
        Ok(unsafe { Reservation::from_raw_parts(self.at(t), before, len, total) })
    }

    unsafe fn commit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
        // SAFETY: forwarded (the trait's contract).
        unsafe { self.protect(r, offset, len, Protection::READ_WRITE) }
    }

    unsafe fn protect(
        &self,
        r: &Reservation,
        offset: usize,
        len: usize,
        prot: Protection,
    ) -> Result<()> {
        if !self.has_protect_hook() || len == 0 {
            return protect_without_mmu(r, offset, len, prot, self.page);
        }
        let p = r.subrange(offset, len, self.page)?;
        match prot {
            Protection::READ_WRITE => self.call_hook(p, len, true),
            Protection::NONE => self.call_hook(p, len, false),
            _ => Err(Errno::NOTSUP),
        }
    }

    unsafe fn decommit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
        let p = r.subrange(offset, len, self.page)?;
        if self.has_protect_hook() {
            return Err(Errno::NOTSUP); // see the module docs
        }
        // SAFETY: the range is inside `r` (checked), which the caller owns
        // with no references into the range (trait contract).
        unsafe { zero(p, len) };
        Ok(())
    }

    unsafe fn release(&self, r: Reservation) -> Result<()> {
        let (start, end) = self.offsets(&r)?;
        // Accessible again before anybody else can claim it (a failure
        // keeps it claimed: its pages may be inaccessible).
        self.call_hook(r.mapping_start(), end - start, true)?;
        // Only the most recent live reservation moves the pointer back; any
        // other stays used until `reset` (a bump allocator keeps no free
        // list). Either way the caller is done with it.
        let _ = self
            .top
            .compare_exchange(end, start, Ordering::AcqRel, Ordering::Acquire);
        Ok(())
    }
}

/// `commit` / `protect` where nothing manages pages (no MMU): the range is
/// checked against the contract, read-write (what every page always is)
/// succeeds, and any other protection is [`Errno::NOTSUP`] rather than a
/// silent lie. Shared by [`BumpPages`] and Zephyr's `KHeapPages`.
pub(crate) fn protect_without_mmu(
    r: &Reservation,
    offset: usize,
    len: usize,
    prot: Protection,
    page: usize,
) -> Result<()> {
    r.subrange(offset, len, page)?;
    if len == 0 || prot == Protection::READ_WRITE {
        return Ok(());
    }
    Err(Errno::NOTSUP)
}
