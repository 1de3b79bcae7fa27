//! Code pages for AOT-compiled code: written while read-write, then sealed
//! read-execute — never writable and executable at once (W^X).
//!
//! [`CodeRegion::seal`] makes the written instructions visible to
//! instruction fetch before it protects the pages: on aarch64 by data-cache
//! clean and instruction-cache invalidation per cache line (`dc cvau`,
//! `ic ivau`, `dsb ish`, `isb`, honouring CTR_EL0's line sizes and its IDC
//! and DIC bits; see `arch/aarch64/cache.rs`), which Linux does not do for
//! user space on `mprotect`; on x86_64 the instruction cache is coherent
//! and nothing is needed.
//!
//! With `bti`, sealed pages also get branch-target enforcement
//! (`PROT_BTI`): an indirect branch into them must land on a `bti`
//! landing pad (or a PACIxSP), otherwise the CPU raises a Branch Target
//! exception (SIGILL on Linux). Where the CPU has no BTI the seal fails with
//! [`Errno::NOTSUP`] rather than silently dropping the protection; callers
//! that accept running without BTI seal again with `bti = false`.

use core::ptr::NonNull;

use crate::errno::{Errno, Result};
use crate::page::{PageAllocator, Protection, Reservation, ReserveOptions};

/// A region of code pages (see the [module docs](self)).
#[derive(Debug)]
pub struct CodeRegion<A: PageAllocator> {
    alloc: A,
    res: Reservation,
    sealed: bool,
}

impl<A: PageAllocator> CodeRegion<A> {
    /// Reserves and commits `len` bytes (rounded up to pages) read-write,
    /// with a guard page on each side.
    pub fn new(alloc: A, len: usize) -> Result<Self> {
        let pg = alloc.page_size();
        let res = alloc.reserve(&ReserveOptions::new(len).guard_before(pg).guard_after(pg))?;
        let region = CodeRegion {
            alloc,
            res,
            sealed: false,
        };
        // SAFETY: fresh pages, nothing refers to them.
        unsafe { region.alloc.commit(&region.res, 0, region.res.len()) }?;
        Ok(region)
    }

    /// Bytes in the region.
    pub fn len(&self) -> usize {
        self.res.len()
    }

    /// Always false (a region has at least one page).
    pub fn is_empty(&self) -> bool {
        self.res.is_empty()
    }

    /// The writable bytes, while not sealed; [`Errno::ACCES`] after.
    pub fn bytes_mut(&mut self) -> Result<&mut [u8]> {
        if self.sealed {
            return Err(Errno::ACCES);
        }
        // SAFETY: `len` committed read-write bytes, borrowed mutably from
        // `self`, so no other reference exists while the slice lives.
        Ok(unsafe { core::slice::from_raw_parts_mut(self.res.base().as_ptr(), self.res.len()) })
    }

    /// Makes the written code visible to instruction fetch, then protects
    /// the region read-execute (with `PROT_BTI` when `bti`). On error the
    /// region stays writable and unsealed.
    pub fn seal(&mut self, bti: bool) -> Result<()> {
        if self.sealed {
            return Err(Errno::ACCES);
        }
        #[cfg(all(target_arch = "aarch64", target_os = "linux"))]
        crate::arch::cache::sync_icache(self.res.base().as_ptr(), self.res.len());
        let prot = if bti {
            Protection::READ_EXEC.with_bti()
        } else {
            Protection::READ_EXEC
        };
        // SAFETY: `bytes_mut` borrows are over (`&mut self`); from here on the
        // pages are only executed and read.
        unsafe { self.alloc.protect(&self.res, 0, self.res.len(), prot) }?;
        self.sealed = true;
        Ok(())
    }

    /// The address of byte `offset` of the sealed code, to call through a
    /// function pointer; `None` before sealing or past the end.
    pub fn entry(&self, offset: usize) -> Option<NonNull<u8>> {
        if !self.sealed || offset >= self.res.len() {
            return None;
        }
        // SAFETY: offset < len, inside the reservation.
        Some(unsafe { self.res.base().add(offset) })
    }
}

impl<A: PageAllocator> Drop for CodeRegion<A> {
    fn drop(&mut self) {
        // SAFETY: `self.res` is not used again and `Reservation` has no
        // destructor of its own.
        let res = unsafe { core::ptr::read(&self.res) };
        // SAFETY: the region is being dropped; nothing executes from it any
        // more (callers must not keep function pointers past the drop).
        let _ = unsafe { self.alloc.release(res) };
    }
}
