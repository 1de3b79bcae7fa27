//! The stage-1 translation tables `boot.s` installs on every core (4 KiB
//! granule, 39-bit VA, identity map), and `protect`, which makes pages
//! of RAM invalid or valid again at run time: the MMU behind the helper's
//! protect hook (`wrt_baremetal_set_protect_hook`, see `c_clients.rs`).
//!
//! * Level 1: 0-1 GiB one Device-nGnRnE block, never executable (GIC,
//!   UART); 1-2 GiB the level-2 table below; the rest faults.
//! * Level 2: the first 64 entries (128 MiB of RAM from 0x4000_0000, all
//!   of QEMU's default `-m`) point to level-3 tables; the rest faults.
//! * Level 3: one 4 KiB page each, Normal write-back, inner shareable,
//!   valid at boot. `protect` (the trap tests' image) clears or sets the
//!   valid bit.
//!
//! Why every page of RAM at level 3: a 4 KiB page anywhere in RAM (the
//! helper's region is a `.bss` array placed by the linker) can then be
//! made invalid or valid by one store, without splitting a block at run
//! time (which would need break-before-make on a live mapping the code
//! itself runs from). The tables are statics initialised at compile time:
//! level-3 entries are constants (identity map), the table pointers of
//! levels 1 and 2 are relocations the linker fills in.

use core::sync::atomic::AtomicU64;
#[cfg(all(feature = "baremetal", feature = "c-clients"))]
use core::sync::atomic::Ordering;

/// QEMU `virt` RAM.
pub const RAM_BASE: usize = 0x4000_0000;
/// Bytes of RAM mapped (QEMU's default `-m 128M`; `link.ld` fits in it).
pub const RAM_SIZE: usize = 128 << 20;
/// Translation granule.
pub const PAGE: usize = 4096;
const PAGES: usize = RAM_SIZE / PAGE;
const L3_TABLES: usize = PAGES / 512;

/// Descriptor bits: valid (bit 0), table / page (bit 1), access flag.
#[cfg(all(feature = "baremetal", feature = "c-clients"))]
const VALID: u64 = 0b01;
const TABLE: usize = 0b11;
const PAGE_DESC: u64 = 0b11 | (1 << 10);
const BLOCK: u64 = 0b01 | (1 << 10);
/// Inner shareable.
const SH_INNER: u64 = 3 << 8;
/// MAIR attribute index 1 (Normal write-back; index 0 is Device).
const NORMAL: u64 = 1 << 2;
/// PXN | UXN.
const XN: u64 = (1 << 53) | (1 << 54);

/// The level-3 entry of the RAM page at `pa`, valid.
const fn ram_page(pa: usize) -> u64 {
    pa as u64 | PAGE_DESC | SH_INNER | NORMAL
}

/// Every level-3 table, contiguous (64 tables of 512 entries).
#[repr(C, align(4096))]
struct Level3([AtomicU64; PAGES]);

static LEVEL3: Level3 = {
    let mut t = [const { AtomicU64::new(0) }; PAGES];
    let mut i = 0;
    while i < PAGES {
        t[i] = AtomicU64::new(ram_page(RAM_BASE + i * PAGE));
        i += 1;
    }
    Level3(t)
};

/// A table of descriptors, some of which hold table addresses (pointers,
/// so that the linker can relocate them).
#[repr(C, align(4096))]
pub struct Table([*const u8; 512]);

// SAFETY: read only by the MMU's table walker after boot (never written).
unsafe impl Sync for Table {}

static LEVEL2: Table = {
    let mut t = [core::ptr::null::<u8>(); 512];
    let mut i = 0;
    while i < L3_TABLES {
        let table = (&raw const LEVEL3.0).cast::<u8>().wrapping_add(i * 512 * 8);
        t[i] = table.wrapping_add(TABLE);
        i += 1;
    }
    Table(t)
};

/// The level-1 table `boot.s` loads into TTBR0_EL1.
#[unsafe(export_name = "wrt_page_table")]
pub static LEVEL1: Table = {
    let mut t = [core::ptr::null::<u8>(); 512];
    t[0] = core::ptr::without_provenance(BLOCK as usize | XN as usize); // attr index 0
    t[1] = (&raw const LEVEL2).cast::<u8>().wrapping_add(TABLE);
    Table(t)
};

/// Makes the pages of `[start, start + len)` invalid (`accessible` false:
/// any access takes a level-3 translation fault) or valid again, on every
/// core: stores, `dsb ishst`, one broadcast `tlbi vaae1is` per page (or
/// `vmalle1is` for large ranges), `dsb ish`, `isb`. `false` (and nothing
/// changed) unless the range is page-aligned and inside mapped RAM.
#[cfg(all(feature = "baremetal", feature = "c-clients"))]
pub fn protect(start: usize, len: usize, accessible: bool) -> bool {
    if !start.is_multiple_of(PAGE)
        || !len.is_multiple_of(PAGE)
        || start < RAM_BASE
        || start
            .checked_add(len)
            .is_none_or(|end| end > RAM_BASE + RAM_SIZE)
    {
        return false;
    }
    let first = (start - RAM_BASE) / PAGE;
    for i in first..first + len / PAGE {
        let entry = ram_page(RAM_BASE + i * PAGE);
        let entry = if accessible { entry } else { entry & !VALID };
        LEVEL3.0[i].store(entry, Ordering::Relaxed);
    }
    // SAFETY: a barrier: the table stores above reach every core's walker
    // before the invalidation below.
    unsafe { core::arch::asm!("dsb ishst", options(nostack, preserves_flags)) };
    if len / PAGE > 64 {
        // SAFETY: TLB maintenance only (every core, every address).
        unsafe { core::arch::asm!("tlbi vmalle1is", options(nostack, preserves_flags)) };
    } else {
        for page in (start..start + len).step_by(PAGE) {
            // SAFETY: TLB maintenance only (every core, this page).
            unsafe {
                core::arch::asm!("tlbi vaae1is, {}", in(reg) page >> 12,
                    options(nostack, preserves_flags));
            }
        }
    }
    // SAFETY: barriers: the invalidation is complete on every core before
    // this returns.
    unsafe { core::arch::asm!("dsb ish", "isb", options(nostack, preserves_flags)) };
    true
}

/// Whether the page at `addr` is valid now (its level-3 entry).
#[cfg(all(feature = "baremetal", feature = "c-clients"))]
pub fn is_valid(addr: usize) -> bool {
    (RAM_BASE..RAM_BASE + RAM_SIZE).contains(&addr)
        && LEVEL3.0[(addr - RAM_BASE) / PAGE].load(Ordering::Relaxed) & VALID != 0
}
