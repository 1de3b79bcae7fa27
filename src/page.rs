//! The page-allocator trait: address-space reservations with guard regions.
//!
//! A [`Reservation`] is a range of address space obtained with
//! [`PageAllocator::reserve`]: `guard_before` bytes, then `len` usable bytes,
//! then `guard_after` bytes, all inaccessible at first. The usable part is
//! then committed, protected and decommitted in page-aligned sub-ranges given
//! as `(offset, len)` relative to [`Reservation::base`]; the guards are never
//! reachable through offsets, so code that stays within a reservation cannot
//! open them by mistake.
//!
//! # Contract (every backend)
//! * The page size is a run-time value ([`PageAllocator::page_size`]): a
//!   power of two, at least 4096. Never assume 4096.
//! * `reserve` rounds `max`, `guard_before` and `guard_after` up to whole
//!   pages; `base()` is page-aligned. The reservation costs address space,
//!   not memory.
//! * `commit` makes a range readable and writable. Pages never written read
//!   as zero.
//! * `protect` sets a range to a [`Protection`]. There is no writable and
//!   executable protection: W^X holds by construction.
//! * `decommit` gives the memory of a range back to the system and keeps the
//!   range's protection: a readable range reads as zero afterwards.
//! * `release` returns the whole reservation, guards included.
//! * Offsets and lengths must be multiples of the page size
//!   ([`Errno::INVAL`] otherwise); a range must lie within `[0, len())`
//!   ([`Errno::RANGE`] otherwise, also when `offset + len` overflows); a zero
//!   length is accepted and does nothing. A protection the platform or CPU
//!   cannot give is [`Errno::NOTSUP`]. On error nothing has changed, unless
//!   the OS itself failed half-way (documented per backend).

use core::ptr::NonNull;

use crate::errno::{Errno, Result};

/// What a range of pages may be used for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// Any access faults.
    None,
    /// Reads only.
    Read,
    /// Reads and writes.
    ReadWrite,
    /// Reads and instruction fetches (code pages).
    ReadExec,
}

/// A page protection: an [`Access`] plus the aarch64 hardening attributes.
///
/// `bti` (branch-target enforcement on executable pages, Linux `PROT_BTI`)
/// and `mte` (memory tagging, Linux `PROT_MTE`) exist only on aarch64 CPUs
/// that have them; asking for them elsewhere is [`Errno::NOTSUP`].
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Protection {
    /// The kind of access allowed.
    pub access: Access,
    /// Indirect branches into these pages must land on a BTI landing pad.
    pub bti: bool,
    /// Accesses are checked against memory tags.
    pub mte: bool,
}

impl Protection {
    /// No access.
    pub const NONE: Self = Self::plain(Access::None);
    /// Read-only.
    pub const READ: Self = Self::plain(Access::Read);
    /// Read-write.
    pub const READ_WRITE: Self = Self::plain(Access::ReadWrite);
    /// Read-execute.
    pub const READ_EXEC: Self = Self::plain(Access::ReadExec);

    const fn plain(access: Access) -> Self {
        Self {
            access,
            bti: false,
            mte: false,
        }
    }

    /// The same protection with branch-target enforcement.
    pub const fn with_bti(self) -> Self {
        Self { bti: true, ..self }
    }

    /// The same protection with memory tagging.
    pub const fn with_mte(self) -> Self {
        Self { mte: true, ..self }
    }
}

/// How much address space to reserve, and the guards around it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct ReserveOptions {
    /// Usable bytes (rounded up to whole pages).
    pub max: usize,
    /// Inaccessible bytes before the usable part (rounded up to whole pages).
    pub guard_before: usize,
    /// Inaccessible bytes after the usable part (rounded up to whole pages).
    pub guard_after: usize,
}

impl ReserveOptions {
    /// `max` usable bytes and no guards.
    pub const fn new(max: usize) -> Self {
        Self {
            max,
            guard_before: 0,
            guard_after: 0,
        }
    }

    /// Sets the guard before the usable part.
    pub const fn guard_before(self, bytes: usize) -> Self {
        Self {
            guard_before: bytes,
            ..self
        }
    }

    /// Sets the guard after the usable part.
    pub const fn guard_after(self, bytes: usize) -> Self {
        Self {
            guard_after: bytes,
            ..self
        }
    }

    /// The three sizes rounded up to `page` and their total, or
    /// [`Errno::INVAL`] for a zero `max` and [`Errno::OVERFLOW`] when a size
    /// does not fit in `usize`. `page` must be a power of two.
    pub fn rounded(&self, page: usize) -> Result<(usize, usize, usize, usize)> {
        debug_assert!(page.is_power_of_two());
        if self.max == 0 {
            return Err(Errno::INVAL);
        }
        let up = |n: usize| n.checked_next_multiple_of(page).ok_or(Errno::OVERFLOW);
        let (before, len, after) = (up(self.guard_before)?, up(self.max)?, up(self.guard_after)?);
        let total = before
            .checked_add(len)
            .and_then(|n| n.checked_add(after))
            .ok_or(Errno::OVERFLOW)?;
        // No OS maps more than isize::MAX bytes, and pointer offsets need it.
        if total > isize::MAX as usize {
            return Err(Errno::OVERFLOW);
        }
        Ok((before, len, after, total))
    }
}

/// A reserved range of address space (see the [module docs](self)).
///
/// A plain descriptor: dropping it does not release anything; call
/// [`PageAllocator::release`] on the allocator that made it.
#[derive(Debug, PartialEq, Eq)]
pub struct Reservation {
    start: NonNull<u8>,
    guard_before: usize,
    len: usize,
    total: usize,
}

// SAFETY: a `Reservation` is an address range, not access to memory; the
// unsafe methods of `PageAllocator` carry the obligations of using it.
unsafe impl Send for Reservation {}
// SAFETY: as above; `&Reservation` gives no access to the memory.
unsafe impl Sync for Reservation {}

impl Reservation {
    /// Describes a reservation made by a backend.
    ///
    /// # Safety
    /// `start..start + total` must be address space reserved by the caller's
    /// allocator, with `guard_before + len <= total`, all page-aligned.
    pub unsafe fn from_raw_parts(
        start: NonNull<u8>,
        guard_before: usize,
        len: usize,
        total: usize,
    ) -> Self {
        debug_assert!(guard_before.checked_add(len).is_some_and(|n| n <= total));
        Self {
            start,
            guard_before,
            len,
            total,
        }
    }

    /// The first usable byte (after the leading guard).
    pub fn base(&self) -> NonNull<u8> {
        // SAFETY: guard_before < total, within the reservation (from_raw_parts).
        unsafe { self.start.add(self.guard_before) }
    }

    /// Usable bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a reservation has at least one usable page.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The start of the whole range, leading guard included.
    pub fn mapping_start(&self) -> NonNull<u8> {
        self.start
    }

    /// Bytes of the whole range, guards included.
    pub fn mapping_len(&self) -> usize {
        self.total
    }

    /// Bytes of the leading guard.
    pub fn guard_before(&self) -> usize {
        self.guard_before
    }

    /// Bytes of the trailing guard.
    pub fn guard_after(&self) -> usize {
        self.total - self.guard_before - self.len
    }

    /// Checks a sub-range against the contract (alignment to `page`, bounds)
    /// and returns its address. Backends call this before any system call.
    pub fn subrange(&self, offset: usize, len: usize, page: usize) -> Result<NonNull<u8>> {
        if !offset.is_multiple_of(page) || !len.is_multiple_of(page) {
            return Err(Errno::INVAL);
        }
        match offset.checked_add(len) {
            Some(end) if end <= self.len => {}
            _ => return Err(Errno::RANGE),
        }
        // SAFETY: offset <= len, so the result is within the reservation.
        Ok(unsafe { self.base().add(offset) })
    }
}

/// Reserve, commit, protect, decommit and release pages (see the
/// [module docs](self) for the contract every implementation keeps).
pub trait PageAllocator {
    /// The page size in bytes: a power of two, at least 4096.
    fn page_size(&self) -> usize;

    /// Reserves inaccessible address space for `opts.max` bytes plus guards.
    fn reserve(&self, opts: &ReserveOptions) -> Result<Reservation>;

    /// Makes `[offset, offset + len)` of `r` readable and writable.
    ///
    /// # Safety
    /// `r` must come from this allocator and not be released. The range may
    /// be executing code or back live references only if read-write access
    /// is compatible with them.
    unsafe fn commit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()>;

    /// Sets the protection of `[offset, offset + len)` of `r`.
    ///
    /// # Safety
    /// As for [`commit`](Self::commit); no live Rust reference may point into
    /// a range made less accessible than the reference needs.
    unsafe fn protect(
        &self,
        r: &Reservation,
        offset: usize,
        len: usize,
        prot: Protection,
    ) -> Result<()>;

    /// Discards the contents of `[offset, offset + len)` of `r`; the range
    /// keeps its protection and reads as zero afterwards.
    ///
    /// # Safety
    /// As for [`commit`](Self::commit); no live Rust reference may point into
    /// the range (its contents change).
    unsafe fn decommit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()>;

    /// Returns the whole reservation, guards included.
    ///
    /// # Safety
    /// `r` must come from this allocator; nothing may use its memory after.
    unsafe fn release(&self, r: Reservation) -> Result<()>;

    /// Asks the OS to back `[offset, offset + len)` of `r` with huge pages
    /// where it can (Linux transparent huge pages). A hint: contents and
    /// protection do not change. [`Errno::NOTSUP`] where the platform has no
    /// such hint (the default).
    fn advise_huge_pages(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
        let _ = (r, offset, len);
        Err(Errno::NOTSUP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_and_overflow() {
        let o = ReserveOptions::new(1).guard_before(1).guard_after(4097);
        assert_eq!(o.rounded(4096), Ok((4096, 4096, 8192, 16384)));
        assert_eq!(ReserveOptions::new(0).rounded(4096), Err(Errno::INVAL));
        assert_eq!(
            ReserveOptions::new(usize::MAX).rounded(4096),
            Err(Errno::OVERFLOW)
        );
        let big = ReserveOptions::new(usize::MAX / 2).guard_after(usize::MAX / 2);
        assert_eq!(big.rounded(4096), Err(Errno::OVERFLOW));
    }

    #[test]
    fn subrange_checks() {
        let mut backing = [0u8; 64];
        let start = NonNull::new(backing.as_mut_ptr()).unwrap();
        // SAFETY: only the arithmetic of the descriptor is exercised here.
        let r = unsafe { Reservation::from_raw_parts(start, 16, 32, 64) };
        assert_eq!(r.base().as_ptr() as usize, start.as_ptr() as usize + 16);
        assert_eq!(r.guard_after(), 16);
        assert_eq!(
            r.subrange(8, 24, 8).map(|p| p.as_ptr() as usize),
            Ok(start.as_ptr() as usize + 24)
        );
        assert_eq!(
            r.subrange(32, 0, 8).map(|p| p.as_ptr() as usize),
            Ok(start.as_ptr() as usize + 48)
        );
        assert_eq!(r.subrange(4, 8, 8), Err(Errno::INVAL));
        assert_eq!(r.subrange(8, 4, 8), Err(Errno::INVAL));
        assert_eq!(r.subrange(24, 16, 8), Err(Errno::RANGE));
        assert_eq!(r.subrange(40, 0, 8), Err(Errno::RANGE));
        assert_eq!(r.subrange(8, usize::MAX - 7, 8), Err(Errno::RANGE));
    }
}
