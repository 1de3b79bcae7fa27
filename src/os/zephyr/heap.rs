//! [`KHeapPages`]: a [`PageAllocator`] over a Zephyr `k_heap` the
//! integrator provides (`K_HEAP_DEFINE`, or `k_heap_init` over a region).
//!
//! Zephyr on most aarch64 targets runs this code without memory protection
//! it could change per page (and `k_mem_map` needs `CONFIG_MMU` and a
//! demand-paging-capable board), so exactly what [`BumpPages`] does holds,
//! except that `release` really frees:
//!
//! | operation | here |
//! |---|---|
//! | `reserve` | `k_heap_aligned_alloc(heap, page, guard_before + max + guard_after, K_NO_WAIT)`; `NULL` is [`Errno::NOMEM`]; the usable part is zeroed (heap memory is not) |
//! | `commit` | checks the range; nothing else |
//! | `decommit` | zeroes the range |
//! | `protect` | `READ_WRITE` (no BTI/MTE): `Ok`, nothing changes; anything else [`Errno::NOTSUP`] |
//! | `release` | `k_heap_free(heap, start)` |
//!
//! Nothing faults: guards only keep reservations apart (see
//! [`BumpPages`]). `k_heap` functions are not system calls: supervisor
//! threads only.
//!
//! [`BumpPages`]: super::BumpPages

use core::ptr::NonNull;

use super::bump::protect_without_mmu;
use super::kernel::{self, KHeap, KTimeout};
use crate::errno::{Errno, Result};
use crate::page::{PageAllocator, Protection, Reservation, ReserveOptions};

/// Reservations from a Zephyr `k_heap` (see the [module docs](self)).
#[derive(Debug)]
pub struct KHeapPages {
    heap: NonNull<KHeap>,
    page: usize,
}

// SAFETY: `k_heap` calls take the heap's own spin lock; the allocator holds
// only the pointer.
unsafe impl Send for KHeapPages {}
// SAFETY: as above.
unsafe impl Sync for KHeapPages {}

impl KHeapPages {
    /// Reservations from `heap` with 4096-byte pages.
    ///
    /// # Safety
    /// `heap` is an initialised `struct k_heap` that stays valid while the
    /// allocator or any reservation from it is in use, and the allocator is
    /// used from supervisor threads only.
    pub const unsafe fn new(heap: NonNull<KHeap>) -> Self {
        Self { heap, page: 4096 }
    }

    /// The same allocator with page size `page` (the allocation alignment).
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
}

impl PageAllocator for KHeapPages {
    fn page_size(&self) -> usize {
        self.page
    }

    fn reserve(&self, opts: &ReserveOptions) -> Result<Reservation> {
        let (before, len, _after, total) = opts.rounded(self.page)?;
        // SAFETY: an initialised heap (constructor contract), supervisor
        // thread; K_NO_WAIT never blocks.
        let p = unsafe {
            kernel::k_heap_aligned_alloc(self.heap.as_ptr(), self.page, total, KTimeout::NO_WAIT)
        };
        let start = NonNull::new(p).ok_or(Errno::NOMEM)?;
        if !(start.as_ptr() as usize).is_multiple_of(self.page) {
            // A heap that ignored the alignment: give it back, refuse.
            // SAFETY: `p` came from this heap just now.
            unsafe { kernel::k_heap_free(self.heap.as_ptr(), p) };
            return Err(Errno::NOMEM);
        }
        // SAFETY: the heap gave us `total` bytes at `start`; `before < total`.
        let base = unsafe { start.add(before) };
        // SAFETY: the usable part lies in the fresh allocation, which nothing
        // else references.
        unsafe { crate::arch::mem::fill(base.as_ptr(), 0, len) };
        // SAFETY: `start..start + total` is ours and page-aligned.
        Ok(unsafe { Reservation::from_raw_parts(start, before, len, total) })
    }

    unsafe fn commit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
        protect_without_mmu(r, offset, len, Protection::READ_WRITE, self.page)
    }

    unsafe fn protect(
        &self,
        r: &Reservation,
        offset: usize,
        len: usize,
        prot: Protection,
    ) -> Result<()> {
        protect_without_mmu(r, offset, len, prot, self.page)
    }

    unsafe fn decommit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
        let p = r.subrange(offset, len, self.page)?;
        // SAFETY: inside `r`, owned by the caller with no references into
        // the range (trait contract).
        unsafe { crate::arch::mem::fill(p.as_ptr(), 0, len) };
        Ok(())
    }

    unsafe fn release(&self, r: Reservation) -> Result<()> {
        // SAFETY: `r` came from this heap (trait contract) and is not used
        // after this call.
        unsafe { kernel::k_heap_free(self.heap.as_ptr(), r.mapping_start().as_ptr()) };
        Ok(())
    }
}
