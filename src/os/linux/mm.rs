//! Linux memory mappings: `mmap`, `mprotect`, `munmap`, `madvise`, and the
//! [`LinuxPages`] page allocator built on them.
//!
//! | trait operation | system calls |
//! |---|---|
//! | reserve | `mmap(NULL, total, PROT_NONE, MAP_PRIVATE \| MAP_ANONYMOUS \| MAP_NORESERVE, -1, 0)` |
//! | commit / protect | one `mprotect` over the whole range |
//! | decommit | `madvise(MADV_DONTNEED)`: private anonymous pages read as zero afterwards (man 2 madvise) |
//! | release | `munmap` of the whole range, guards included |
//!
//! `MAP_NORESERVE` keeps a large reservation (4 GiB + guards for a 32-bit
//! Wasm memory) from being charged against the commit limit; see the
//! overcommit caveat in man 2 mmap.
//!
//! W^X: the raw [`mmap`] and [`mprotect`] are public (the differential tests
//! and benches call them), so they enforce it themselves: a protection with
//! both `PROT_WRITE` and `PROT_EXEC` is refused with EACCES before any
//! system call, as Linux's memory-deny-write-execute
//! (`PR_SET_MDWE`, `PR_MDWE_REFUSE_EXEC_GAIN`) refuses it. They cannot see
//! other mappings of the same memory (a shared file mapped twice, once
//! writable and once executable); `CodeRegion` and the `PageAllocator`
//! never create those.

use core::ptr::{self, NonNull};

use linux_raw_sys::general::{
    MADV_DONTNEED, MADV_HUGEPAGE, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, PROT_EXEC, PROT_NONE,
    PROT_READ, PROT_WRITE,
};

use super::probe;
use super::syscall::{ret, ret_unit};
use crate::errno::{Errno, Result};
use crate::page::{Access, PageAllocator, Protection, Reservation, ReserveOptions};

/// `mmap(addr, len, prot, flags, fd, offset)`: creates a mapping.
///
/// Fails with [`Errno::ACCES`] (and makes no system call) when `prot` has
/// both `PROT_WRITE` and `PROT_EXEC` (W^X; see the [module docs](self)).
///
/// # Safety
/// With `MAP_FIXED`, any mapping already at `[addr, addr + len)` is replaced:
/// no live Rust reference may point there. A file mapping must use a valid
/// `fd`.
pub unsafe fn mmap(
    addr: *mut u8,
    len: usize,
    prot: u32,
    flags: u32,
    fd: i32,
    offset: u64,
) -> Result<NonNull<u8>> {
    refuse_write_execute(prot)?;
    // SAFETY: mmap reads no user memory; the caller vouches for MAP_FIXED.
    // `fd as isize as usize` sign-extends -1 as the kernel expects.
    let raw = unsafe {
        syscall!(
            __NR_mmap,
            addr as usize,
            len,
            prot as usize,
            flags as usize,
            fd as isize as usize,
            offset as usize
        )
    };
    let addr = ret(raw)?;
    // A successful mmap never returns 0 unless asked for address 0 with
    // MAP_FIXED, which the kernel refuses (mmap_min_addr).
    NonNull::new(ptr::with_exposed_provenance_mut(addr)).ok_or(Errno::FAULT)
}

/// `mprotect(addr, len, prot)`: changes the protection of a range.
///
/// Fails with [`Errno::ACCES`] (and changes nothing) when `prot` has both
/// `PROT_WRITE` and `PROT_EXEC` (W^X; see the [module docs](self)).
///
/// # Safety
/// No live Rust reference may point into a range made less accessible than
/// the reference needs, and no code may run from a range made non-executable.
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: u32) -> Result<()> {
    refuse_write_execute(prot)?;
    // SAFETY: the caller vouches for the references into the range.
    ret_unit(unsafe { syscall!(__NR_mprotect, addr as usize, len, prot as usize) })
}

/// W^X for the raw calls: EACCES for writable-and-executable.
fn refuse_write_execute(prot: u32) -> Result<()> {
    if prot & (PROT_WRITE | PROT_EXEC) == PROT_WRITE | PROT_EXEC {
        return Err(Errno::ACCES);
    }
    Ok(())
}

/// `munmap(addr, len)`: removes mappings.
///
/// # Safety
/// Nothing may use `[addr, addr + len)` afterwards.
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<()> {
    // SAFETY: the caller vouches that the range is no longer used.
    ret_unit(unsafe { syscall!(__NR_munmap, addr as usize, len) })
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
/// Destructive advice (`MADV_DONTNEED`, `MADV_FREE`) changes memory
/// contents: no live Rust reference may point into the range.
pub unsafe fn madvise(addr: *mut u8, len: usize, advice: u32) -> Result<()> {
    // SAFETY: the caller vouches for the references into the range.
    ret_unit(unsafe { syscall!(__NR_madvise, addr as usize, len, advice as usize) })
}

/// The Linux [`PageAllocator`] (see the [module docs](self)).
#[derive(Copy, Clone, Debug)]
pub struct LinuxPages {
    page_size: usize,
    bti: bool,
    mte: bool,
}

impl LinuxPages {
    /// Reads the page size and the BTI/MTE capabilities (once per process,
    /// from the auxiliary vector; see [`probe::auxv`]). Needs no `/proc`:
    /// without any auxiliary vector the page size is measured and BTI/MTE
    /// are taken as absent. Fails only if `mmap`/`mprotect` themselves are
    /// refused.
    pub fn new() -> Result<Self> {
        let aux = probe::auxv()?;
        Ok(Self {
            page_size: aux.page_size,
            bti: aux.bti(),
            mte: aux.mte(),
        })
    }

    /// The `PROT_*` bits for `prot`, or [`Errno::NOTSUP`] when the CPU or
    /// architecture lacks BTI or MTE.
    pub fn prot_bits(&self, prot: Protection) -> Result<u32> {
        let mut bits = match prot.access {
            Access::None => PROT_NONE,
            Access::Read => PROT_READ,
            Access::ReadWrite => PROT_READ | PROT_WRITE,
            Access::ReadExec => PROT_READ | PROT_EXEC,
        };
        if prot.bti {
            bits |= self.hardening_bit(self.bti, Hardening::Bti)?;
        }
        if prot.mte {
            bits |= self.hardening_bit(self.mte, Hardening::Mte)?;
        }
        Ok(bits)
    }

    #[cfg(target_arch = "aarch64")]
    fn hardening_bit(&self, present: bool, which: Hardening) -> Result<u32> {
        use linux_raw_sys::general::{PROT_BTI, PROT_MTE};
        match (present, which) {
            (false, _) => Err(Errno::NOTSUP),
            (true, Hardening::Bti) => Ok(PROT_BTI),
            (true, Hardening::Mte) => Ok(PROT_MTE),
        }
    }

    #[cfg(not(target_arch = "aarch64"))]
    fn hardening_bit(&self, _present: bool, _which: Hardening) -> Result<u32> {
        Err(Errno::NOTSUP)
    }
}

enum Hardening {
    Bti,
    Mte,
}

impl PageAllocator for LinuxPages {
    fn page_size(&self) -> usize {
        self.page_size
    }

    fn reserve(&self, opts: &ReserveOptions) -> Result<Reservation> {
        let (before, len, _after, total) = opts.rounded(self.page_size)?;
        let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
        // SAFETY: no MAP_FIXED: the kernel picks an unused range.
        let start = unsafe { mmap(ptr::null_mut(), total, PROT_NONE, flags, -1, 0)? };
        // SAFETY: the kernel reserved `total` page-aligned bytes at `start`.
        Ok(unsafe { Reservation::from_raw_parts(start, before, len, total) })
    }

    unsafe fn commit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
        // SAFETY: forwarded; the caller keeps `protect`'s contract.
        unsafe { self.protect(r, offset, len, Protection::READ_WRITE) }
    }

    unsafe fn protect(
        &self,
        r: &Reservation,
        offset: usize,
        len: usize,
        prot: Protection,
    ) -> Result<()> {
        let addr = r.subrange(offset, len, self.page_size)?;
        let bits = self.prot_bits(prot)?;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range lies in `r` (checked); the caller vouches for
        // references into it.
        unsafe { mprotect(addr.as_ptr(), len, bits) }
    }

    unsafe fn decommit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
        let addr = r.subrange(offset, len, self.page_size)?;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: the range lies in `r` (checked); the caller guarantees no
        // reference into it.
        unsafe { madvise(addr.as_ptr(), len, MADV_DONTNEED) }
    }

    unsafe fn release(&self, r: Reservation) -> Result<()> {
        // SAFETY: the caller guarantees nothing uses the reservation.
        unsafe { munmap(r.mapping_start().as_ptr(), r.mapping_len()) }
    }

    /// `madvise(MADV_HUGEPAGE)`: transparent huge pages where the kernel's
    /// mode is `always` or `madvise` (see [`probe::Thp`]); a no-op under
    /// `never`. Only 2 MiB-aligned stretches of the range can use them.
    fn advise_huge_pages(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
        let addr = r.subrange(offset, len, self.page_size)?;
        if len == 0 {
            return Ok(());
        }
        // SAFETY: MADV_HUGEPAGE changes neither contents nor protection.
        unsafe { madvise(addr.as_ptr(), len, MADV_HUGEPAGE) }
    }
}
