//! Instruction-cache maintenance for code pages, without libSystem's
//! `sys_icache_invalidate`.
//!
//! Code is written while its pages are read-write, then the pages are
//! switched to read-execute (never both: [`super::MacOsPages`] has no
//! writable-and-executable protection). Before the new code may run, the
//! data cache must be cleaned and the instruction cache invalidated for the
//! range, to the point of unification:
//!
//! ```text
//! dc cvau  (each data-cache line)    dsb ish
//! ic ivau  (each instruction line)   dsb ish   isb
//! ```
//!
//! [`MacOsPages`](super::MacOsPages) runs [`sync_icache`] itself whenever it
//! switches a range to [`Access::ReadExec`](crate::Access::ReadExec), after
//! the `mprotect` (the range is readable then, which `dc cvau` needs). The
//! `isb` only resynchronises the calling thread: another thread that will
//! run the code must pass a context-synchronising event first (an `isb`,
//! or any exception return such as a system call) after the switch.
//!
//! # Line sizes
//!
//! Architecturally the minimum line sizes come from `CTR_EL0`
//! ([`CacheLines::from_ctr_el0`]). **XNU does not let EL0 read `CTR_EL0`**:
//! `SCTLR_EL1_DEFAULT` sets `UCI` (EL0 cache maintenance allowed) but not
//! `UCT` (XNU `osfmk/arm64/proc_reg.h`), so the read traps, and
//! `handle_msr_trap` raises `EXC_BAD_INSTRUCTION` (`osfmk/arm64/sleh.c`).
//! The backend therefore uses the line sizes XNU itself uses for the same
//! operation: `MMU_I_CLINE = MMU_CLINE = 6` (64 bytes) for every Apple core
//! in `proc_reg.h` (Typhoon through H16), the stride of
//! `InvalidatePoU_IcacheRegion` / `CleanPoU_DcacheRegion`. A stride no
//! larger than the true line is always safe (it only repeats work);
//! `hw.cachelinesize` (128 on M1) is *not* used, as a stride larger than a
//! line would skip lines.
//!
//! # `MAP_JIT`: not built, and why (W^X stays the only code path)
//!
//! On Apple silicon a `MAP_JIT` region (mmap flag 0x800, which also needs
//! the `com.apple.security.cs.allow-jit` entitlement under the hardened
//! runtime) is writable or executable *per thread*, switched by
//! `pthread_jit_write_protect_np` (Apple's "Porting just-in-time compilers
//! to Apple silicon"). Without the switch a thread cannot write the region,
//! so `MAP_JIT` alone gives nothing. The switch cannot be made without
//! libSystem on public evidence:
//!
//! * It is not a system call or Mach trap: no entry of
//!   `bsd/kern/syscalls.master` or `osfmk/kern/syscall_sw.c` toggles it,
//!   and the public XNU tree (apple-oss-distributions/xnu, xnu-11417) has
//!   no user-space implementation: `libsyscall/os/` holds only `tsd.h` and
//!   `x18.{c,h}`; the header libpthread uses for it,
//!   `os/thread_self_restrict.h`, is not published.
//! * What is known comes from reverse engineering of
//!   `libsystem_pthread.dylib` (QEMU's 2020 Apple-silicon TCG patches,
//!   "Reversed from /usr/lib/system/libsystem_pthread.dylib", crediting
//!   siguza's APRR write-up; V8 and Cosmopolitan carry copies): an `msr` to
//!   one of two Apple implementation-defined system registers
//!   (`S3_4_C15_C2_7` or `S3_6_C15_C1_5`, chosen by an undocumented
//!   commpage byte at `0xF_FFFF_C10C`) of a value read from undocumented
//!   commpage words (`+0x110` / `+0x118`). Register encodings, the
//!   selector and the commpage layout are not in any Apple header or XNU
//!   source; one of those copies even retries the switch because "the api
//!   frequently flakes". That is not the evidence standard of this backend
//!   (every number from a public source, pinned by a test).
//!
//! So [`CodeRegion`](crate::code::CodeRegion) on macOS keeps the W^X path:
//! written while read-write, sealed read-execute with `mprotect` (and the
//! cache maintenance above), never writable and executable at once; no
//! allocator path passes `MAP_JIT` (tested below). A hardened-runtime
//! process needs `com.apple.security.cs.allow-unsigned-executable-memory`
//! for that `mprotect` (unverified here: no Mac).

/// Minimum cache-line sizes for maintenance by address, in bytes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct CacheLines {
    /// Data (or unified) cache line, for `dc cvau`.
    pub dline: usize,
    /// Instruction cache line, for `ic ivau`.
    pub iline: usize,
}

impl CacheLines {
    /// What XNU uses on every Apple arm64 core: 64 and 64 bytes (module
    /// docs).
    pub const XNU_ARM64: CacheLines = CacheLines {
        dline: 64,
        iline: 64,
    };

    /// Decodes `CTR_EL0`: `DminLine` (bits 19:16) and `IminLine` (bits 3:0)
    /// are log2 of the line size in 4-byte words. For callers that can read
    /// the register (not EL0 code on XNU; see the module docs).
    pub const fn from_ctr_el0(ctr: u64) -> CacheLines {
        let dmin = ((ctr >> 16) & 0xF) as u32;
        let imin = (ctr & 0xF) as u32;
        CacheLines {
            dline: 4 << dmin,
            iline: 4 << imin,
        }
    }
}

/// The line-aligned addresses covering `[start, start + len)` for lines of
/// `line` bytes (a power of two). Empty for `len == 0`.
pub fn lines(start: usize, len: usize, line: usize) -> impl Iterator<Item = usize> {
    debug_assert!(line.is_power_of_two());
    let first = start & !(line - 1);
    let end = if len == 0 {
        first
    } else {
        start.saturating_add(len)
    };
    (first..end).step_by(line)
}

/// Cleans the data cache and invalidates the instruction cache for
/// `[start, start + len)`, then synchronises this core's instruction
/// stream (module docs for the sequence and the line sizes).
///
/// # Safety
/// The whole range must be mapped readable in this process.
#[cfg(wrt_os = "macos")]
pub unsafe fn sync_icache(start: *const u8, len: usize) {
    use crate::arch::macos::{dc_cvau, dsb_ish, ic_ivau, isb};

    let lines_of = CacheLines::XNU_ARM64;
    let start = start as usize;
    for line in lines(start, len, lines_of.dline) {
        // SAFETY: the line lies in (or starts the line of) the readable range.
        unsafe { dc_cvau(line) };
    }
    dsb_ish();
    for line in lines(start, len, lines_of.iline) {
        // SAFETY: as above.
        unsafe { ic_ivau(line) };
    }
    dsb_ish();
    isb();
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::vec::Vec;

    #[test]
    fn line_iteration_covers_the_range_once() {
        let v: Vec<usize> = lines(0x1000, 0x80, 64).collect();
        assert_eq!(v, [0x1000, 0x1040]);
        // Unaligned start and end: the partial lines at both ends count.
        let v: Vec<usize> = lines(0x1030, 0x20, 64).collect();
        assert_eq!(v, [0x1000, 0x1040]);
        let v: Vec<usize> = lines(0x103F, 1, 64).collect();
        assert_eq!(v, [0x1000]);
        assert_eq!(lines(0x1000, 0, 64).count(), 0);
        // A 16 KiB page is 256 lines of 64 bytes.
        assert_eq!(lines(0x4000, 0x4000, 64).count(), 256);
        // No overflow at the top of the address space.
        let top: Vec<usize> = lines(usize::MAX - 10, 100, 64).collect();
        assert_eq!(top, [usize::MAX & !63]);
    }

    #[test]
    fn ctr_el0_decoding() {
        // CTR_EL0 = 0x8444C004: DminLine 4, IminLine 4 (64-byte lines).
        assert_eq!(
            CacheLines::from_ctr_el0(0x8444_C004),
            CacheLines {
                dline: 64,
                iline: 64
            }
        );
        // DminLine 5 (128 B), IminLine 3 (32 B).
        assert_eq!(
            CacheLines::from_ctr_el0((5 << 16) | 3),
            CacheLines {
                dline: 128,
                iline: 32
            }
        );
        assert_eq!(CacheLines::XNU_ARM64, CacheLines::from_ctr_el0(0x4_0004));
    }

    #[test]
    fn no_allocator_path_asks_for_map_jit() {
        use super::super::builder::{Inheritance, MacOsAllocatorBuilder, MaxProtection, VmFlags};
        use super::super::consts::map;
        let builders = [
            MacOsAllocatorBuilder::new(),
            MacOsAllocatorBuilder::new().vm_flags(VmFlags {
                random_address: true,
                no_cache: true,
            }),
            MacOsAllocatorBuilder::new()
                .tag(240)
                .max_protection(MaxProtection::ReadWrite)
                .inheritance(Inheritance::None),
        ];
        for b in builders {
            let cfg = b.validate(16384).unwrap();
            for fixed in [false, true] {
                let flags = cfg.mmap_flags(fixed);
                assert_eq!(flags & map::JIT, 0, "{flags:#x}");
                assert_ne!(flags & map::ANON, 0);
            }
        }
        assert_eq!(map::JIT, 0x800);
    }
}
