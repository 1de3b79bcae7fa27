//! The macOS [`PageAllocator`](crate::PageAllocator), `MacOsPages`: raw mmap / mprotect /
//! munmap / minherit and, where they add something, Mach VM traps.
//!
//! | trait operation | calls |
//! |---|---|
//! | page size | `__sysctl({CTL_HW, HW_PAGESIZE})`, once |
//! | reserve | `mmap(NULL, whole, PROT_NONE, MAP_PRIVATE \| MAP_ANON, tag)`, or `mach_vm_map(.., VM_FLAGS_ANYWHERE \| VM_FLAGS_RANDOM_ADDR, VM_PROT_NONE)`; then `mprotect` of the protection table, and the builder's `mach_vm_protect(set_maximum)` / `minherit` |
//! | commit / protect | one `mprotect`; for read-execute also `dc cvau` / `ic ivau` (see [`super::code`]) |
//! | decommit | `mmap(MAP_FIXED)` of fresh anonymous memory over each run of equal protection, with that protection |
//! | release | `munmap` of the whole mapping, guards and table included |
//! | [`MacOsPages::clone_cow`] (not in the trait) | `reserve` of the same shape, then per run of accessible pages `mach_vm_remap(copy = TRUE, VM_FLAGS_FIXED \| VM_FLAGS_OVERWRITE)` ([`super::mig`]) |
//! | [`MacOsPages::copy_within`] (not in the trait) | `mach_vm_copy` when [`copy_path`] says so, else the library's `memmove` |
//!
//! # Copy-on-write snapshot and fast copy
//!
//! `clone_cow(&r)` makes a new reservation with `r`'s size and guards in
//! which every accessible page of `r` is a copy-on-write copy: the
//! instance-snapshot case (a Wasm memory cloned for a new instance, pages
//! shared until either side writes). Conditions: `r` must come from this
//! allocator (its protection table drives the copy); inaccessible pages stay
//! fresh (inaccessible, reading zero once committed); each run keeps its
//! protection (the kernel's `cur_protection` is the source's), and the
//! builder's maximum protection and inheritance are applied again, as after
//! a decommit. Cost: one `reserve` plus, per run of equal protection, four
//! traps (reply port, `mach_msg2`, reply-port destroy, and the hardening
//! calls the builder asks for); no page is copied until written. If the
//! kernel refuses a run, the new reservation is released and the error
//! returned (`KERN_*` mapped by [`KernReturn::errno`](super::abi::KernReturn::errno)).
//! Whether the kernel accepts this task's (control) port as the request's
//! `src_task` port descriptor is not verified here; if it refuses it
//! (`MACH_SEND_INVALID_RIGHT` / `MACH_SEND_NO_GRANT_DEST`,
//! [`snapshot_by_copy`]), that run is made writable, filled with
//! `mach_vm_copy` (no descriptor needed) and given its protection back:
//! still copy-on-write where `vm_map_copy_overwrite` can share the pages,
//! else a copy.
//!
//! `copy_within(&r, dst, src, len)` uses `mach_vm_copy` only when
//! [`copy_path`] returns [`CopyPath::VmCopy`]: `dst`, `src` and `len` page
//! multiples, `len` at least [`VM_COPY_MIN`] (1 MiB: below it the plain
//! copy's bandwidth beats four traps plus a later copy-on-write fault per
//! written page; the threshold is chosen, not measured, as no Mac runs
//! here), and the ranges disjoint. Otherwise it copies with the library's
//! own `memmove` (`asm/aarch64-macho/mem.s`). Both ranges must be readable
//! (source) and writable (destination).
//!
//! # Why decommit remaps instead of calling madvise
//!
//! The contract says a decommitted range reads as zero afterwards and keeps
//! its protection. No madvise advice gives that on XNU:
//!
//! * `MADV_DONTNEED` only deactivates pages (`vm_map_msync(DEACTIVATE)`);
//!   the contents stay.
//! * `MADV_FREE` (`msync(KILLPAGES)`) and `MADV_FREE_REUSABLE`
//!   (`vm_map_reusable_pages`) let the kernel drop the pages *when it needs
//!   memory*; until then the old contents can still be read (`MADV_FREE_REUSE`
//!   takes them back as they are).
//! * `MADV_ZERO` (macOS 14.4 and later) refuses read-only and executable
//!   ranges and copy-on-write memory.
//!
//! So decommit maps fresh zero-fill memory over the range with `MAP_FIXED`,
//! which XNU does atomically (`VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE` in
//! `bsd/kern/kern_mman.c`): the old pages are freed at once and the range
//! reads zero. mmap sets one protection per call, and XNU has no system call
//! that reports a range's protection (`mach_vm_region` is a MIG message), so
//! the allocator records the protection of every page itself, one byte per
//! page, in a table at the start of the mapping, and decommits each run of
//! equal protection with one mmap. A fresh mapping also has the default
//! maximum protection and inheritance again, so the builder's
//! `max_protection` and `inheritance` are re-applied to it.
//!
//! # Layout of one reservation
//!
//! ```text
//! [ table: 1 byte per usable page, RW ][ 1 page PROT_NONE ][ guard_before ][ usable ][ guard_after ]
//!                                                           ^ Reservation::mapping_start()
//! ```
//!
//! The table sits *below* the reservation, behind its own inaccessible page,
//! so no access relative to the usable base with a non-negative offset (as
//! Wasm code makes) reaches it, whatever the guards.
//!
//! # Errors and costs beyond the contract
//!
//! * `protect` to read-execute is `EACCES` when the builder lowered the
//!   maximum protection to read-write. Its cache maintenance touches every
//!   64-byte line of the range, so untouched pages in it get faulted in.
//! * `decommit` makes one mmap (plus the builder's hardening calls) per run
//!   of equal protection; if the kernel refuses one half-way, the runs
//!   before it are already decommitted (the backend's "OS failed half-way"
//!   case). Read-execute runs need fresh executable anonymous memory, which
//!   a hardened-runtime process without the
//!   `com.apple.security.cs.allow-unsigned-executable-memory` entitlement
//!   may be refused (unverified: no Mac here).
//!
//! Everything except `MacOsPages` itself is pure and runs in the host's
//! unit tests.

use core::sync::atomic::{AtomicU8, Ordering};

use super::abi::xnu;
use super::builder::Config;
use super::consts::prot;
use super::errno as e;
use crate::errno::Result;
use crate::page::{Access, Protection, ReserveOptions};

/// The `PROT_*` bits for `prot`; `ENOTSUP` for BTI or MTE, which macOS
/// does not offer through mprotect.
pub fn prot_bits(p: Protection) -> Result<u32> {
    if p.bti || p.mte {
        return Err(xnu(e::ENOTSUP));
    }
    Ok(access_bits(p.access))
}

/// The `PROT_*` bits of an access.
pub fn access_bits(a: Access) -> u32 {
    match a {
        Access::None => prot::NONE,
        Access::Read => prot::READ,
        Access::ReadWrite => prot::READ | prot::WRITE,
        Access::ReadExec => prot::READ | prot::EXEC,
    }
}

/// Table code of an access (0 is `None`, what fresh memory reads as).
pub const fn access_code(a: Access) -> u8 {
    match a {
        Access::None => 0,
        Access::Read => 1,
        Access::ReadWrite => 2,
        Access::ReadExec => 3,
    }
}

/// The access a table code stands for; an unknown code (which only memory
/// corruption produces) reads as `None`, the safe choice for fresh pages.
pub const fn access_of(code: u8) -> Access {
    match code {
        1 => Access::Read,
        2 => Access::ReadWrite,
        3 => Access::ReadExec,
        _ => Access::None,
    }
}

/// Sizes of one reservation's mapping (module docs), all page multiples.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// The protection table.
    pub table: usize,
    /// The inaccessible page between table and reservation.
    pub sep: usize,
    /// Leading guard.
    pub before: usize,
    /// Usable bytes.
    pub len: usize,
    /// Trailing guard.
    pub after: usize,
    /// `before + len + after` (the `Reservation`'s mapping length).
    pub total: usize,
    /// Everything: `table + sep + total`.
    pub whole: usize,
}

/// Bytes of the protection table for `len` usable bytes.
pub fn table_len(len: usize, page: usize) -> usize {
    (len / page).next_multiple_of(page)
}

impl Layout {
    /// The layout for `opts` under `cfg`: guards raised to the builder's
    /// minimum, everything rounded to pages. Errors: those of
    /// [`ReserveOptions::rounded`], `ENOMEM` for a usable size above the
    /// builder's limit, `EOVERFLOW` when the whole does not fit in `isize`.
    pub fn new(opts: &ReserveOptions, cfg: &Config) -> Result<Layout> {
        let page = cfg.page_size;
        let opts = ReserveOptions {
            max: opts.max,
            guard_before: opts.guard_before.max(cfg.min_guard_before),
            guard_after: opts.guard_after.max(cfg.min_guard_after),
        };
        let (before, len, after, total) = opts.rounded(page)?;
        if cfg.max_bytes.is_some_and(|max| len > max) {
            return Err(xnu(e::ENOMEM));
        }
        let table = table_len(len, page);
        let sep = page;
        let whole = table
            .checked_add(sep)
            .and_then(|n| n.checked_add(total))
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or(xnu(e::EOVERFLOW))?;
        Ok(Layout {
            table,
            sep,
            before,
            len,
            after,
            total,
            whole,
        })
    }
}

/// The per-page protection record of one reservation.
pub struct ProtTable<'a>(&'a [AtomicU8]);

impl<'a> ProtTable<'a> {
    /// Wraps the table's bytes (one per usable page).
    pub fn new(bytes: &'a [AtomicU8]) -> Self {
        ProtTable(bytes)
    }

    /// Records `access` for pages `[first, first + n)`.
    pub fn set(&self, first: usize, n: usize, access: Access) {
        for b in &self.0[first..first + n] {
            b.store(access_code(access), Ordering::Relaxed);
        }
    }

    /// The recorded access of page `i`.
    pub fn get(&self, i: usize) -> Access {
        access_of(self.0[i].load(Ordering::Relaxed))
    }

    /// Maximal runs `(first, n, access)` of equal protection covering pages
    /// `[first, first + n)`, in order.
    pub fn runs(
        &self,
        first: usize,
        n: usize,
    ) -> impl Iterator<Item = (usize, usize, Access)> + '_ {
        let end = first + n;
        let mut at = first;
        core::iter::from_fn(move || {
            if at >= end {
                return None;
            }
            let start = at;
            let access = self.get(start);
            while at < end && self.get(at) == access {
                at += 1;
            }
            Some((start, at - start, access))
        })
    }
}

/// Smallest copy [`copy_path`] sends to `mach_vm_copy` (module docs).
pub const VM_COPY_MIN: usize = 1 << 20;

/// How [`MacOsPages::copy_within`](imp::MacOsPages::copy_within) copies.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CopyPath {
    /// `mach_vm_copy`: page-aligned, large, disjoint.
    VmCopy,
    /// The library's `memmove`.
    Memmove,
}

/// The conditions of the `mach_vm_copy` fast path (module docs): `dst`,
/// `src` and `len` multiples of `page`, `len >= VM_COPY_MIN`, and
/// `[dst, dst + len)` disjoint from `[src, src + len)` (offsets into one
/// reservation, so the arithmetic cannot overflow for valid ranges).
pub fn copy_path(dst: usize, src: usize, len: usize, page: usize) -> CopyPath {
    let aligned = (dst | src | len) & (page - 1) == 0;
    let disjoint = dst.abs_diff(src) >= len;
    if aligned && disjoint && len >= VM_COPY_MIN {
        CopyPath::VmCopy
    } else {
        CopyPath::Memmove
    }
}

/// Checks `[off, off + len)` lies in `[0, total)`: `ERANGE` otherwise (also
/// on overflow), as the trait's subranges.
pub fn in_bounds(off: usize, len: usize, total: usize) -> Result<()> {
    match off.checked_add(len) {
        Some(end) if end <= total => Ok(()),
        _ => Err(xnu(e::ERANGE)),
    }
}

/// The `mach_vm_remap` flags of a snapshot run: at exactly the target
/// address, replacing the fresh inaccessible pages there.
pub const CLONE_REMAP_FLAGS: i32 =
    super::consts::vm_flags::FIXED | super::consts::vm_flags::OVERWRITE;

/// Whether a refused snapshot run is copied with `mach_vm_copy` instead:
/// when the kernel would not take this task's port as the request's
/// `src_task` descriptor (`MACH_SEND_INVALID_RIGHT`, e.g. an immovable
/// task control port, or `MACH_SEND_NO_GRANT_DEST`). `mach_vm_copy` names
/// the task only as the destination, so it needs no descriptor.
pub fn snapshot_by_copy(refused: super::abi::KernReturn) -> bool {
    use super::consts::mach_msg as m;
    matches!(refused.raw(), m::SEND_INVALID_RIGHT | m::SEND_NO_GRANT_DEST)
}

/// The `mach_vm_remap` of one run of a snapshot: pages `[first, first +
/// n)` of the reservation at `src_base` mapped copy-on-write over the same
/// pages of the one at `dst_base`, in `task` (source and target).
pub fn clone_run(
    task: u32,
    src_base: usize,
    dst_base: usize,
    first: usize,
    n: usize,
    page: usize,
) -> super::mig::Remap {
    super::mig::Remap {
        target_address: (dst_base + first * page) as u64,
        size: (n * page) as u64,
        mask: 0,
        flags: CLONE_REMAP_FLAGS,
        src_task: task,
        src_address: (src_base + first * page) as u64,
        copy: true,
        inheritance: super::consts::VM_INHERIT_DEFAULT,
    }
}

#[cfg(wrt_os = "macos")]
pub use imp::{MacOsPages, page_size};

#[cfg(wrt_os = "macos")]
mod imp {
    use core::ptr::{self, NonNull};
    use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

    use super::super::abi::KernReturn;
    use super::super::builder::{Inheritance, MacOsAllocatorBuilder, MaxProtection};
    use super::super::code::sync_icache;
    use super::super::consts::{mach_msg, prot, sysctl, vm_inherit, vm_prot};
    use super::super::purgeable::PurgeableRegion;
    use super::super::sys;
    use super::*;
    use crate::errno::Errno;
    use crate::page::{PageAllocator, Reservation};

    /// The page size, or 0 before the first read.
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

    /// This process's page size (`vm_map_page_size` of its map, 16 KiB on
    /// Apple silicon), read once with `__sysctl({CTL_HW, HW_PAGESIZE})`.
    /// That fixed MIB is `hw.pagesize_compat`, an `int`
    /// (`bsd/kern/kern_mib.c`); an 8-byte buffer is offered and a 4- or
    /// 8-byte answer accepted. `EIO` if the answer is not a power of two of
    /// at least 4096.
    pub fn page_size() -> Result<usize> {
        let cached = PAGE_SIZE.load(Ordering::Relaxed);
        if cached != 0 {
            return Ok(cached);
        }
        let mib = [sysctl::CTL_HW, sysctl::HW_PAGESIZE];
        let mut value = [0u8; 8];
        let mut len = value.len();
        // SAFETY: `mib` holds 2 ints; `value` is writable for `len` bytes.
        unsafe {
            sys::sysctl(
                mib.as_ptr(),
                2,
                value.as_mut_ptr(),
                &mut len,
                ptr::null(),
                0,
            )
        }?;
        // Little-endian: a 4-byte int fills the low half of the zeroed u64.
        let size = match len {
            4 | 8 => u64::from_le_bytes(value),
            _ => 0,
        };
        match usize::try_from(size) {
            Ok(size) if size.is_power_of_two() && size >= 4096 => {
                PAGE_SIZE.store(size, Ordering::Relaxed);
                Ok(size)
            }
            _ => Err(Errno::IO),
        }
    }

    /// The macOS [`PageAllocator`] (see the [module docs](super)).
    #[derive(Copy, Clone, Debug)]
    pub struct MacOsPages {
        cfg: Config,
    }

    impl MacOsPages {
        /// The allocator with the builder's defaults (the plain contract).
        pub fn new() -> Result<Self> {
            MacOsAllocatorBuilder::new().build()
        }

        /// The allocator for a validated configuration.
        pub(crate) fn from_config(cfg: Config) -> Self {
            Self { cfg }
        }

        /// The configuration in force.
        pub fn config(&self) -> &Config {
            &self.cfg
        }

        /// Allocates `len` bytes (rounded up to pages) of purgeable,
        /// read-write memory with this allocator's tag and VM flags (its
        /// maximum protection and inheritance apply to reservations only).
        pub fn allocate_purgeable(&self, len: usize) -> Result<PurgeableRegion> {
            PurgeableRegion::allocate(&self.cfg, len)
        }

        /// A copy-on-write snapshot of `src` in a new reservation of the
        /// same shape (see the [module docs](super) for the conditions).
        /// `src` must come from this allocator; the caller must not change
        /// `src`'s protections concurrently.
        pub fn clone_cow(&self, src: &Reservation) -> Result<Reservation> {
            let opts = ReserveOptions::new(src.len())
                .guard_before(src.guard_before())
                .guard_after(src.guard_after());
            let dst = self.reserve(&opts)?;
            match self.snapshot_into(src, &dst) {
                Ok(()) => Ok(dst),
                Err(err) => {
                    // SAFETY: `dst` is ours, fresh, and nothing refers to it.
                    let _ = unsafe { self.release(dst) };
                    Err(err)
                }
            }
        }

        fn snapshot_into(&self, src: &Reservation, dst: &Reservation) -> Result<()> {
            let page = self.page();
            let table = self.table(src);
            let dst_table = self.table(dst);
            // Once the kernel refused the descriptor, it refuses it again.
            let mut by_copy = false;
            for (first, n, access) in table.runs(0, src.len() / page) {
                if access == Access::None {
                    continue;
                }
                let (off, len) = (first * page, n * page);
                let to = dst.base().as_ptr().wrapping_add(off);
                let (src_base, dst_base) =
                    (src.base().as_ptr() as usize, dst.base().as_ptr() as usize);
                let remapped = if by_copy {
                    Err(KernReturn::from_raw(mach_msg::SEND_INVALID_RIGHT))
                } else {
                    sys::with_task(|task| {
                        let r = clone_run(task, src_base, dst_base, first, n, page);
                        // SAFETY: the target run lies in `dst`, fresh and
                        // unreferenced; OVERWRITE replaces its inaccessible
                        // pages.
                        unsafe { super::super::mig::vm_remap(task, &r) }
                    })
                };
                match remapped {
                    Ok(got) if got.address == to as u64 => {}
                    Ok(_) => return Err(Errno::FAULT),
                    Err(k) if snapshot_by_copy(k) => {
                        by_copy = true;
                        let from = src_base.wrapping_add(off);
                        // SAFETY: as above; the run is made writable for
                        // the copy, then given the source's protection.
                        unsafe { self.copy_run(from, to, len, access) }?;
                    }
                    Err(k) => return Err(k.into()),
                }
                dst_table.set(first, n, access);
                if access == Access::ReadExec {
                    // SAFETY: the run was just mapped readable.
                    unsafe { sync_icache(to, len) };
                }
                self.harden(to, len)?;
            }
            Ok(())
        }

        /// The fallback of a snapshot run ([`snapshot_by_copy`]): make the
        /// target run writable, `mach_vm_copy` the source run into it
        /// (copy-on-write where the kernel can), then give it `access`.
        ///
        /// # Safety
        /// `[to, to + len)` is a fresh run of a reservation of ours that
        /// nothing refers to; `[from, from + len)` is readable.
        unsafe fn copy_run(
            &self,
            from: usize,
            to: *mut u8,
            len: usize,
            access: Access,
        ) -> Result<()> {
            // SAFETY: the caller's contract.
            unsafe { sys::mprotect(to, len, prot::READ | prot::WRITE) }?;
            sys::with_task(|task| {
                // SAFETY: source readable, target writable (just made so).
                unsafe { super::super::mig::vm_copy(task, from as u64, len as u64, to as u64) }
            })?;
            // SAFETY: the run now holds the copy; nothing refers to it.
            unsafe { sys::mprotect(to, len, access_bits(access)) }
        }

        /// Copies `len` bytes from offset `src` to offset `dst` of `r`
        /// (overlap allowed), with `mach_vm_copy` when [`copy_path`] allows
        /// (module docs). `ERANGE` when a range leaves the reservation.
        ///
        /// # Safety
        /// The source range must be readable and the destination writable,
        /// and no live reference may point into the destination.
        pub unsafe fn copy_within(
            &self,
            r: &Reservation,
            dst: usize,
            src: usize,
            len: usize,
        ) -> Result<()> {
            in_bounds(dst, len, r.len())?;
            in_bounds(src, len, r.len())?;
            let base = r.base().as_ptr();
            let (to, from) = (base.wrapping_add(dst), base.wrapping_add(src));
            match copy_path(dst, src, len, self.page()) {
                CopyPath::VmCopy => sys::with_task(|task| {
                    // SAFETY: both ranges lie in `r` (checked); the caller
                    // vouches for their protections and references.
                    unsafe { super::super::mig::vm_copy(task, from as u64, len as u64, to as u64) }
                })
                .map_err(Errno::from),
                CopyPath::Memmove => {
                    // SAFETY: as above; the routine handles overlap.
                    unsafe { crate::arch::mem::copy(to, from, len) };
                    Ok(())
                }
            }
        }

        fn page(&self) -> usize {
            self.cfg.page_size
        }

        /// The start of the whole mapping (the table) of `r`.
        fn whole_start(&self, r: &Reservation) -> *mut u8 {
            let below = table_len(r.len(), self.page()) + self.page();
            r.mapping_start().as_ptr().wrapping_sub(below)
        }

        fn table<'r>(&self, r: &'r Reservation) -> ProtTable<'r> {
            let n = r.len() / self.page();
            let start = self.whole_start(r).cast::<AtomicU8>();
            // SAFETY: `r` came from this allocator (the callers' contract),
            // so `start` is its table: mapped read-write in `reserve`, at
            // least `n` bytes, alive until `release` consumes `r`, and only
            // ever accessed atomically.
            ProtTable::new(unsafe { core::slice::from_raw_parts(start, n) })
        }

        /// Maps the whole reservation, inaccessible.
        fn map_inaccessible(&self, whole: usize) -> Result<NonNull<u8>> {
            if self.cfg.needs_mach_vm() {
                let mut addr = 0u64;
                let flags = self.cfg.mach_flags(false);
                sys::with_task(|task| {
                    // SAFETY: `addr` is a live u64; ANYWHERE replaces nothing.
                    unsafe {
                        sys::mach_vm_map(task, &mut addr, whole as u64, 0, flags, vm_prot::NONE)
                    }
                })?;
                let p = ptr::with_exposed_provenance_mut::<u8>(addr as usize);
                return NonNull::new(p).ok_or(Errno::FAULT);
            }
            let fd = self.cfg.mmap_fd(false);
            let flags = self.cfg.mmap_flags(false);
            // SAFETY: no MAP_FIXED: the kernel picks an unused range.
            unsafe { sys::mmap(ptr::null_mut(), whole, prot::NONE, flags, fd, 0) }
        }

        /// Applies the builder's maximum protection and inheritance to a
        /// fresh mapping of usable pages (or the whole reservation).
        fn harden(&self, addr: *mut u8, len: usize) -> Result<()> {
            if self.cfg.max_protection == MaxProtection::ReadWrite {
                sys::with_task(|task| {
                    // SAFETY: lowering the maximum to RW leaves the current
                    // protection (never executable here) as it is.
                    unsafe {
                        sys::mach_vm_protect(
                            task,
                            addr as u64,
                            len as u64,
                            true,
                            vm_prot::READ | vm_prot::WRITE,
                        )
                    }
                })?;
            }
            let inherit = match self.cfg.inheritance {
                Inheritance::Copy => return Ok(()),
                Inheritance::Share => vm_inherit::SHARE,
                Inheritance::None => vm_inherit::NONE,
            };
            // SAFETY: the range is ours; minherit changes no contents.
            unsafe { sys::minherit(addr, len, inherit) }
        }

        /// The part of `reserve` after the mapping exists; on error the
        /// caller unmaps it.
        fn set_up(&self, start: *mut u8, l: &Layout) -> Result<()> {
            // SAFETY: the table is the start of our fresh mapping.
            unsafe { sys::mprotect(start, l.table, prot::READ | prot::WRITE) }?;
            if self.cfg.inheritance == Inheritance::None {
                // The child gets neither the reservation nor its table.
                // SAFETY: as above.
                unsafe { sys::minherit(start, l.table + l.sep, vm_inherit::NONE) }?;
            }
            self.harden(start.wrapping_add(l.table + l.sep), l.total)
        }
    }

    impl MacOsAllocatorBuilder {
        /// Reads the page size and validates the options into an allocator.
        pub fn build(&self) -> Result<MacOsPages> {
            Ok(MacOsPages::from_config(self.validate(page_size()?)?))
        }
    }

    impl PageAllocator for MacOsPages {
        fn page_size(&self) -> usize {
            self.page()
        }

        fn reserve(&self, opts: &ReserveOptions) -> Result<Reservation> {
            let l = Layout::new(opts, &self.cfg)?;
            let start = self.map_inaccessible(l.whole)?;
            if let Err(err) = self.set_up(start.as_ptr(), &l) {
                // SAFETY: the mapping is ours and nothing uses it yet.
                let _ = unsafe { sys::munmap(start.as_ptr(), l.whole) };
                return Err(err);
            }
            // SAFETY: in bounds of the mapping (table + sep < whole).
            let mapping = unsafe { start.add(l.table + l.sep) };
            // SAFETY: `mapping..mapping + total` is reserved by us, with
            // before + len <= total, all page-aligned.
            Ok(unsafe { Reservation::from_raw_parts(mapping, l.before, l.len, l.total) })
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
            let addr = r.subrange(offset, len, self.page())?;
            let bits = prot_bits(prot)?;
            if prot.access == Access::ReadExec
                && self.cfg.max_protection == MaxProtection::ReadWrite
            {
                return Err(Errno::ACCES);
            }
            if len == 0 {
                return Ok(());
            }
            // SAFETY: the range lies in `r` (checked); the caller vouches
            // for references into it.
            unsafe { sys::mprotect(addr.as_ptr(), len, bits) }?;
            let page = self.page();
            self.table(r).set(offset / page, len / page, prot.access);
            if prot.access == Access::ReadExec {
                // SAFETY: the range was just made readable (and executable).
                unsafe { sync_icache(addr.as_ptr(), len) };
            }
            Ok(())
        }

        unsafe fn decommit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
            let addr = r.subrange(offset, len, self.page())?;
            if len == 0 {
                return Ok(());
            }
            let page = self.page();
            let fd = self.cfg.mmap_fd(false);
            let flags = self.cfg.mmap_flags(true);
            for (first, n, access) in self.table(r).runs(offset / page, len / page) {
                let at = addr.as_ptr().wrapping_add((first - offset / page) * page);
                // SAFETY: `at..at + n * page` lies in `r`; the caller
                // guarantees no reference into it. MAP_FIXED replaces the
                // pages atomically with zero-fill memory.
                unsafe { sys::mmap(at, n * page, access_bits(access), flags, fd, 0) }?;
                self.harden(at, n * page)?;
            }
            Ok(())
        }

        unsafe fn release(&self, r: Reservation) -> Result<()> {
            let whole = table_len(r.len(), self.page()) + self.page() + r.mapping_len();
            // SAFETY: the caller guarantees nothing uses the reservation;
            // the table and separator below it are ours too.
            unsafe { sys::munmap(self.whole_start(&r), whole) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::builder::MacOsAllocatorBuilder;
    use super::*;
    use crate::errno::Errno;

    extern crate std;
    use std::vec::Vec;

    const PG: usize = 16384;

    fn cfg(b: MacOsAllocatorBuilder) -> Config {
        b.validate(PG).unwrap()
    }

    #[test]
    fn protection_encoding() {
        assert_eq!(prot_bits(Protection::NONE), Ok(0));
        assert_eq!(prot_bits(Protection::READ), Ok(1));
        assert_eq!(prot_bits(Protection::READ_WRITE), Ok(3));
        assert_eq!(prot_bits(Protection::READ_EXEC), Ok(5));
        assert_eq!(
            prot_bits(Protection::READ_EXEC.with_bti()),
            Err(xnu(e::ENOTSUP))
        );
        assert_eq!(
            prot_bits(Protection::READ_WRITE.with_mte()),
            Err(xnu(e::ENOTSUP))
        );
        for a in [
            Access::None,
            Access::Read,
            Access::ReadWrite,
            Access::ReadExec,
        ] {
            assert_eq!(access_of(access_code(a)), a);
            // W^X: no access maps to writable and executable bits.
            assert_ne!(access_bits(a) & 6, 6);
        }
        assert_eq!(access_code(Access::None), 0, "fresh memory reads as None");
        assert_eq!(access_of(200), Access::None);
    }

    #[test]
    fn layout_puts_the_table_below_a_separator() {
        let l = Layout::new(
            &ReserveOptions::new(4 * PG)
                .guard_before(1)
                .guard_after(PG + 1),
            &cfg(MacOsAllocatorBuilder::new()),
        )
        .unwrap();
        assert_eq!(
            l,
            Layout {
                table: PG,
                sep: PG,
                before: PG,
                len: 4 * PG,
                after: 2 * PG,
                total: 7 * PG,
                whole: 9 * PG,
            }
        );
        // A 4 GiB + 4 GiB-guard Wasm32 reservation: 262144 pages, 16 table pages.
        let big = Layout::new(
            &ReserveOptions::new(1 << 32).guard_after(1 << 32),
            &cfg(MacOsAllocatorBuilder::new()),
        )
        .unwrap();
        assert_eq!(big.table, 262_144);
        assert_eq!(big.whole, big.table + PG + (2 << 32));
    }

    #[test]
    fn layout_applies_builder_minimums_and_limits() {
        let c = cfg(MacOsAllocatorBuilder::new()
            .guard_pages(2, 3)
            .max_wasm_pages(1));
        let l = Layout::new(&ReserveOptions::new(PG).guard_after(PG), &c).unwrap();
        assert_eq!((l.before, l.after), (2 * PG, 3 * PG));
        // One Wasm page is 64 KiB = 4 pages of 16 KiB: 4 fit, 5 do not.
        assert!(Layout::new(&ReserveOptions::new(4 * PG), &c).is_ok());
        assert_eq!(
            Layout::new(&ReserveOptions::new(4 * PG + 1), &c),
            Err(xnu(e::ENOMEM))
        );
        // The trait's own errors pass through.
        let plain = cfg(MacOsAllocatorBuilder::new());
        assert_eq!(
            Layout::new(&ReserveOptions::new(0), &plain),
            Err(Errno::INVAL)
        );
        assert_eq!(
            Layout::new(&ReserveOptions::new(usize::MAX), &plain),
            Err(Errno::OVERFLOW)
        );
        // Fits as a reservation, but not with the table in front.
        let edge = (isize::MAX as usize) & !(PG - 1);
        assert_eq!(
            Layout::new(&ReserveOptions::new(edge - PG), &plain),
            Err(xnu(e::EOVERFLOW))
        );
    }

    #[test]
    fn table_runs_split_at_protection_changes() {
        let bytes: Vec<AtomicU8> = (0..8).map(|_| AtomicU8::new(0)).collect();
        let t = ProtTable::new(&bytes);
        t.set(1, 3, Access::ReadWrite);
        t.set(3, 1, Access::ReadExec);
        t.set(6, 2, Access::Read);
        let runs: Vec<_> = t.runs(0, 8).collect();
        assert_eq!(
            runs,
            [
                (0, 1, Access::None),
                (1, 2, Access::ReadWrite),
                (3, 1, Access::ReadExec),
                (4, 2, Access::None),
                (6, 2, Access::Read),
            ]
        );
        let part: Vec<_> = t.runs(2, 3).collect();
        assert_eq!(
            part,
            [
                (2, 1, Access::ReadWrite),
                (3, 1, Access::ReadExec),
                (4, 1, Access::None),
            ]
        );
        assert_eq!(t.runs(5, 0).count(), 0);
        assert_eq!(t.get(3), Access::ReadExec);
    }

    #[test]
    fn table_length() {
        assert_eq!(table_len(PG, PG), PG);
        assert_eq!(table_len(PG * PG, PG), PG);
        assert_eq!(table_len(PG * PG + PG, PG), 2 * PG);
        assert_eq!(table_len(4096 * 4096 * 3, 4096), 3 * 4096);
    }

    #[test]
    fn vm_copy_conditions() {
        let m = VM_COPY_MIN;
        assert_eq!(m, 1 << 20);
        // Aligned, large, disjoint: vm_copy.
        assert_eq!(copy_path(m, 0, m, PG), CopyPath::VmCopy);
        assert_eq!(copy_path(0, 4 * m, 2 * m, PG), CopyPath::VmCopy);
        // Each condition failing alone falls back to memmove.
        assert_eq!(
            copy_path(m + 1, 0, m, PG),
            CopyPath::Memmove,
            "dst unaligned"
        );
        assert_eq!(copy_path(m, 8, m, PG), CopyPath::Memmove, "src unaligned");
        assert_eq!(
            copy_path(2 * m, 0, m + PG / 2, PG),
            CopyPath::Memmove,
            "len unaligned"
        );
        assert_eq!(copy_path(m, 0, m - PG, PG), CopyPath::Memmove, "too short");
        assert_eq!(
            copy_path(m - PG, 0, m, PG),
            CopyPath::Memmove,
            "overlap, dst above"
        );
        assert_eq!(
            copy_path(0, PG, m, PG),
            CopyPath::Memmove,
            "overlap, src above"
        );
        assert_eq!(copy_path(0, 0, m, PG), CopyPath::Memmove, "same range");
        // Alignment is to the allocator's page, not 4 KiB.
        assert_eq!(copy_path(m + 4096, 0, m, PG), CopyPath::Memmove);
        assert_eq!(copy_path(m + 4096, 0, m, 4096), CopyPath::VmCopy);
    }

    #[test]
    fn copy_bounds() {
        assert_eq!(in_bounds(0, 10, 10), Ok(()));
        assert_eq!(in_bounds(10, 0, 10), Ok(()));
        assert_eq!(in_bounds(1, 10, 10), Err(xnu(e::ERANGE)));
        assert_eq!(in_bounds(usize::MAX, 2, usize::MAX), Err(xnu(e::ERANGE)));
        assert_eq!(
            CLONE_REMAP_FLAGS, 0x4000,
            "VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE"
        );
    }

    #[test]
    fn snapshot_run_request() {
        let r = clone_run(0x203, 0x1_0000_0000, 0x2_0000_0000, 3, 5, PG);
        assert_eq!(r.src_task, 0x203);
        assert_eq!(r.src_address, 0x1_0000_0000 + 3 * PG as u64);
        assert_eq!(r.target_address, 0x2_0000_0000 + 3 * PG as u64);
        assert_eq!(r.size, 5 * PG as u64);
        assert_eq!(r.mask, 0);
        assert_eq!(r.flags, CLONE_REMAP_FLAGS);
        assert!(r.copy, "copy-on-write, not shared");
        assert_eq!(r.inheritance, 1, "VM_INHERIT_DEFAULT = COPY");
    }

    #[test]
    fn snapshot_fallback_errors() {
        use super::super::abi::KernReturn;
        // The two refusals of the port descriptor fall back to vm_copy ...
        assert!(snapshot_by_copy(KernReturn::from_raw(0x1000_000a)));
        assert!(snapshot_by_copy(KernReturn::from_raw(0x1000_0016)));
        // ... everything else is the clone's error.
        for code in [1, 3, 4, 46, 0x1000_0003, -300, -303] {
            assert!(!snapshot_by_copy(KernReturn::from_raw(code)), "{code:#x}");
        }
    }
}
