//! [`MacOsAllocatorBuilder`]: the options of the macOS page allocator, and
//! their validation and encoding (pure; host-tested).
//!
//! | option | effect | mechanism |
//! |---|---|---|
//! | [`max_wasm_pages`](MacOsAllocatorBuilder::max_wasm_pages) | `reserve` refuses a usable size above it (`ENOMEM`) | checked before any call |
//! | [`guard_pages`](MacOsAllocatorBuilder::guard_pages) | every reservation gets at least this many inaccessible pages before / after, even if `ReserveOptions` asks for fewer | part of the one reservation mapping |
//! | [`vm_flags`](MacOsAllocatorBuilder::vm_flags): `random_address` | the kernel picks a randomised address | `mach_vm_map` with `VM_FLAGS_RANDOM_ADDR` (mmap cannot pass it: `kern_mman.c` accepts only alias, superpage, purgeable and 4GB-chunk flags in `fd`) |
//! | [`vm_flags`](MacOsAllocatorBuilder::vm_flags): `no_cache` | pages are not kept cached after use | `MAP_NOCACHE` / `VM_FLAGS_NO_CACHE` |
//! | [`tag`](MacOsAllocatorBuilder::tag) | VM tag shown by `vmmap` and footprint tools | `VM_MAKE_TAG(tag)` in mmap's `fd` / the Mach flags |
//! | [`max_protection`](MacOsAllocatorBuilder::max_protection) | `ReadWrite`: the usable range can never become executable, not even by a stray `mprotect` | `mach_vm_protect(set_maximum = TRUE)`; no BSD call lowers a maximum |
//! | [`inheritance`](MacOsAllocatorBuilder::inheritance) | what a child gets after `fork` | `minherit` |
//!
//! Purgeable memory is not a reservation option: XNU's purgeable control
//! needs one map entry covering the whole VM object
//! (`vm_map_purgable_control`), and a reservation's guards and per-range
//! protections split it into several. It has its own type,
//! `PurgeableRegion` (see [`super::purgeable`]), made with the same tag and
//! flags by `MacOsPages::allocate_purgeable`.

use super::abi::xnu;
use super::consts::{map, vm_flags};
use super::errno as e;
use crate::errno::Result;

/// The size of a WebAssembly page.
pub const WASM_PAGE: usize = 65536;

/// Mach VM flags the allocator can apply.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct VmFlags {
    /// Randomise the reservation's address (`VM_FLAGS_RANDOM_ADDR`).
    pub random_address: bool,
    /// Do not keep pages cached after use (`VM_FLAGS_NO_CACHE`,
    /// `MAP_NOCACHE`).
    pub no_cache: bool,
}

/// The highest protection the usable range may ever get.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum MaxProtection {
    /// Read, write and execute (the kernel's default for anonymous memory;
    /// the current protection is still never writable and executable).
    #[default]
    ReadWriteExec,
    /// Read and write: `protect(ReadExec)` fails with `EACCES`.
    ReadWrite,
}

/// What a child process gets of a reservation after `fork`
/// (`VM_INHERIT_*`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum Inheritance {
    /// A copy-on-write copy (the kernel's default; no call is made).
    #[default]
    Copy,
    /// The same memory, shared.
    Share,
    /// Nothing: the range is unmapped in the child.
    None,
}

/// Options of the macOS page allocator (see the [module docs](self)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MacOsAllocatorBuilder {
    max_wasm_pages: Option<u64>,
    guard_pages_before: usize,
    guard_pages_after: usize,
    flags: VmFlags,
    tag: u8,
    max_protection: MaxProtection,
    inheritance: Inheritance,
}

impl Default for MacOsAllocatorBuilder {
    fn default() -> Self {
        Self::new()
    }
}

/// A validated configuration, in bytes of the run-time page size.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The page size (a power of two, at least 4096).
    pub page_size: usize,
    /// Largest usable size of a reservation, if limited.
    pub max_bytes: Option<usize>,
    /// Smallest leading guard, bytes.
    pub min_guard_before: usize,
    /// Smallest trailing guard, bytes.
    pub min_guard_after: usize,
    /// Mach VM flags.
    pub flags: VmFlags,
    /// VM tag (0: none).
    pub tag: u8,
    /// Highest protection of the usable range.
    pub max_protection: MaxProtection,
    /// Fork behaviour.
    pub inheritance: Inheritance,
}

impl MacOsAllocatorBuilder {
    /// The defaults: no size limit, no extra guards, no VM flags, no tag,
    /// maximum protection unchanged, default inheritance. With them the
    /// allocator keeps the `PageAllocator` contract to the letter.
    pub const fn new() -> Self {
        Self {
            max_wasm_pages: None,
            guard_pages_before: 0,
            guard_pages_after: 0,
            flags: VmFlags {
                random_address: false,
                no_cache: false,
            },
            tag: 0,
            max_protection: MaxProtection::ReadWriteExec,
            inheritance: Inheritance::Copy,
        }
    }

    /// Refuses reservations whose usable size exceeds `n` WebAssembly pages
    /// of 64 KiB (`n` must be at least 1).
    pub const fn max_wasm_pages(self, n: u64) -> Self {
        Self {
            max_wasm_pages: Some(n),
            ..self
        }
    }

    /// Gives every reservation at least `before` and `after` guard pages
    /// (of the run-time page size), whatever `ReserveOptions` asks.
    pub const fn guard_pages(self, before: usize, after: usize) -> Self {
        Self {
            guard_pages_before: before,
            guard_pages_after: after,
            ..self
        }
    }

    /// Sets the Mach VM flags.
    pub const fn vm_flags(self, flags: VmFlags) -> Self {
        Self { flags, ..self }
    }

    /// Tags the memory with `VM_MAKE_TAG(tag)`: 0 for none, or an
    /// application tag, 240..=255 (`VM_MEMORY_APPLICATION_SPECIFIC_1..16`);
    /// the other values name Apple's own allocators and are refused.
    pub const fn tag(self, tag: u8) -> Self {
        Self { tag, ..self }
    }

    /// Sets the highest protection the usable range may ever get.
    pub const fn max_protection(self, max: MaxProtection) -> Self {
        Self {
            max_protection: max,
            ..self
        }
    }

    /// Sets what a child process gets after `fork`.
    pub const fn inheritance(self, inheritance: Inheritance) -> Self {
        Self {
            inheritance,
            ..self
        }
    }

    /// Checks the options against `page_size` and converts them to bytes.
    ///
    /// `EINVAL`: a page size that is not a power of two of at least 4096, a
    /// zero `max_wasm_pages`, or a tag outside 0 and 240..=255.
    /// `EOVERFLOW`: a limit or guard that does not fit in `isize`.
    pub fn validate(&self, page_size: usize) -> Result<Config> {
        if !page_size.is_power_of_two() || page_size < 4096 {
            return Err(xnu(e::EINVAL));
        }
        if self.tag != 0 && self.tag < vm_flags::APPLICATION_SPECIFIC_1 {
            return Err(xnu(e::EINVAL));
        }
        let fits = |n: Option<usize>| n.filter(|&n| n <= isize::MAX as usize);
        let max_bytes = match self.max_wasm_pages {
            None => None,
            Some(0) => return Err(xnu(e::EINVAL)),
            Some(n) => Some(
                fits(
                    usize::try_from(n)
                        .ok()
                        .and_then(|n| n.checked_mul(WASM_PAGE)),
                )
                .ok_or(xnu(e::EOVERFLOW))?,
            ),
        };
        let guard = |pages: usize| fits(pages.checked_mul(page_size)).ok_or(xnu(e::EOVERFLOW));
        Ok(Config {
            page_size,
            max_bytes,
            min_guard_before: guard(self.guard_pages_before)?,
            min_guard_after: guard(self.guard_pages_after)?,
            flags: self.flags,
            tag: self.tag,
            max_protection: self.max_protection,
            inheritance: self.inheritance,
        })
    }
}

impl Config {
    /// mmap's `fd` for anonymous memory: -1 without a tag, else
    /// `VM_MAKE_TAG(tag)` (plus `VM_FLAGS_PURGABLE` for purgeable memory).
    pub fn mmap_fd(&self, purgeable: bool) -> i32 {
        let flags = if self.tag == 0 {
            0
        } else {
            vm_flags::make_tag(self.tag)
        } | if purgeable { vm_flags::PURGABLE } else { 0 };
        if flags == 0 { -1 } else { flags }
    }

    /// mmap's `flags` for private anonymous memory (`fixed`: at a given
    /// address, replacing what is there).
    pub fn mmap_flags(&self, fixed: bool) -> u32 {
        let mut f = map::PRIVATE | map::ANON;
        if fixed {
            f |= map::FIXED;
        }
        if self.flags.no_cache {
            f |= map::NOCACHE;
        }
        f
    }

    /// Flags for `mach_vm_map` / `mach_vm_allocate` placing memory
    /// anywhere: `VM_FLAGS_ANYWHERE`, the random-address and no-cache bits,
    /// the tag, and `VM_FLAGS_PURGABLE` if asked.
    pub fn mach_flags(&self, purgeable: bool) -> i32 {
        let mut f = vm_flags::ANYWHERE | vm_flags::make_tag(self.tag);
        if self.flags.random_address {
            f |= vm_flags::RANDOM_ADDR;
        }
        if self.flags.no_cache {
            f |= vm_flags::NO_CACHE;
        }
        if purgeable {
            f |= vm_flags::PURGABLE;
        }
        f
    }

    /// Whether new mappings must be made with `mach_vm_map` /
    /// `mach_vm_allocate` rather than `mmap` (only for what mmap cannot
    /// pass).
    pub fn needs_mach_vm(&self) -> bool {
        self.flags.random_address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PG: usize = 16384;

    #[test]
    fn defaults_validate_to_the_plain_contract() {
        let c = MacOsAllocatorBuilder::new().validate(PG).unwrap();
        assert_eq!(
            c,
            Config {
                page_size: PG,
                max_bytes: None,
                min_guard_before: 0,
                min_guard_after: 0,
                flags: VmFlags::default(),
                tag: 0,
                max_protection: MaxProtection::ReadWriteExec,
                inheritance: Inheritance::Copy,
            }
        );
        assert_eq!(
            MacOsAllocatorBuilder::default(),
            MacOsAllocatorBuilder::new()
        );
        assert!(!c.needs_mach_vm());
    }

    #[test]
    fn options_convert_to_bytes() {
        let c = MacOsAllocatorBuilder::new()
            .max_wasm_pages(65536)
            .guard_pages(1, 2)
            .tag(240)
            .max_protection(MaxProtection::ReadWrite)
            .inheritance(Inheritance::None)
            .validate(PG)
            .unwrap();
        assert_eq!(c.max_bytes, Some(1 << 32));
        assert_eq!((c.min_guard_before, c.min_guard_after), (PG, 2 * PG));
        assert_eq!(c.tag, 240);
        assert_eq!(c.max_protection, MaxProtection::ReadWrite);
        assert_eq!(c.inheritance, Inheritance::None);
    }

    #[test]
    fn validation_refuses_bad_options() {
        let b = MacOsAllocatorBuilder::new();
        let inval = Err(xnu(e::EINVAL));
        let overflow = Err(xnu(e::EOVERFLOW));
        assert_eq!(b.validate(0), inval);
        assert_eq!(b.validate(2048), inval);
        assert_eq!(b.validate(12288), inval);
        assert_eq!(b.max_wasm_pages(0).validate(PG), inval);
        assert_eq!(b.tag(1).validate(PG), inval);
        assert_eq!(b.tag(239).validate(PG), inval);
        assert!(b.tag(255).validate(PG).is_ok());
        assert_eq!(b.max_wasm_pages(u64::MAX).validate(PG), overflow);
        assert_eq!(
            b.max_wasm_pages((isize::MAX as u64) / 65536 + 1)
                .validate(PG),
            overflow
        );
        assert_eq!(b.guard_pages(usize::MAX, 0).validate(PG), overflow);
        assert_eq!(b.guard_pages(0, usize::MAX / PG + 1).validate(PG), overflow);
        assert_eq!(
            b.guard_pages(0, (isize::MAX as usize) / PG + 1)
                .validate(PG),
            overflow
        );
    }

    #[test]
    fn flag_encoding() {
        let plain = MacOsAllocatorBuilder::new().validate(PG).unwrap();
        assert_eq!(plain.mmap_fd(false), -1);
        assert_eq!(plain.mmap_fd(true), 2);
        assert_eq!(plain.mmap_flags(false), 0x1002);
        assert_eq!(plain.mmap_flags(true), 0x1012);
        assert_eq!(plain.mach_flags(false), 1);

        let all = MacOsAllocatorBuilder::new()
            .tag(241)
            .vm_flags(VmFlags {
                random_address: true,
                no_cache: true,
            })
            .validate(PG)
            .unwrap();
        assert!(all.needs_mach_vm());
        // VM_MAKE_TAG(241) | VM_FLAGS_PURGABLE: only flags kern_mman.c
        // accepts in fd (alias, superpage, purgeable, 4GB chunk).
        assert_eq!(all.mmap_fd(false) as u32, 241 << 24);
        assert_eq!(all.mmap_fd(true) as u32, (241 << 24) | 2);
        assert_ne!(all.mmap_fd(false), -1);
        let fd_allowed = vm_flags::ALIAS_MASK | 0x70000 | vm_flags::PURGABLE | 0x4;
        assert_eq!(all.mmap_fd(true) & !fd_allowed, 0);
        assert_eq!(all.mmap_flags(false), 0x1002 | 0x400);
        // ANYWHERE | RANDOM_ADDR | NO_CACHE | tag, and PURGABLE on request.
        assert_eq!(all.mach_flags(false) as u32, (241 << 24) | 0x19);
        assert_eq!(all.mach_flags(true) as u32, (241 << 24) | 0x1B);
    }
}
