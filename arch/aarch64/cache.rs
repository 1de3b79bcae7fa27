//! Instruction-cache maintenance after writing code (aarch64).
//!
//! The architecture does not keep the instruction cache coherent with data
//! writes. After writing instructions: clean the data cache to the point of
//! unification (`dc cvau` per D-cache line), `dsb ish`, invalidate the
//! instruction cache (`ic ivau` per I-cache line), `dsb ish`, `isb`. Line
//! sizes come from CTR_EL0 (readable at EL0 on Linux: the kernel sets
//! SCTLR_EL1.UCT or emulates the read). CTR_EL0.IDC (bit 28) says the clean
//! is not needed and CTR_EL0.DIC (bit 29) that the invalidation is not; the
//! barriers always are. This is what Linux's `__flush_icache_range` does.

use core::arch::asm;

/// The raw CTR_EL0.
fn ctr_el0() -> u64 {
    let ctr: u64;
    // SAFETY: reading CTR_EL0 has no side effects (Linux allows it at EL0).
    unsafe { asm!("mrs {}, ctr_el0", out(reg) ctr, options(nomem, nostack, preserves_flags)) };
    ctr
}

/// Line sizes and coherence bits decoded from CTR_EL0.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct CacheInfo {
    /// Smallest D-cache line in bytes (4 << DminLine).
    pub(crate) dline: usize,
    /// Smallest I-cache line in bytes (4 << IminLine).
    pub(crate) iline: usize,
    /// IDC: no D-cache clean needed for I/D coherence.
    pub(crate) idc: bool,
    /// DIC: no I-cache invalidation needed.
    pub(crate) dic: bool,
}

impl CacheInfo {
    /// Decodes a CTR_EL0 value.
    pub(crate) fn decode(ctr: u64) -> Self {
        CacheInfo {
            dline: 4 << ((ctr >> 16) & 0xf),
            iline: 4 << (ctr & 0xf),
            idc: ctr & (1 << 28) != 0,
            dic: ctr & (1 << 29) != 0,
        }
    }
}

/// Makes instructions written to `[start, start + len)` visible to
/// instruction fetch on every core.
pub(crate) fn sync_icache(start: *const u8, len: usize) {
    let info = CacheInfo::decode(ctr_el0());
    let (begin, end) = (start as usize, start as usize + len);
    if !info.idc {
        let mut line = begin & !(info.dline - 1);
        while line < end {
            // SAFETY: `dc cvau` cleans a cache line; it does not change
            // memory contents and faults only on unmapped addresses, and
            // the caller's range is mapped.
            unsafe { asm!("dc cvau, {}", in(reg) line, options(nostack, preserves_flags)) };
            line += info.dline;
        }
    }
    // SAFETY: a barrier.
    unsafe { asm!("dsb ish", options(nostack, preserves_flags)) };
    if !info.dic {
        let mut line = begin & !(info.iline - 1);
        while line < end {
            // SAFETY: `ic ivau` invalidates instruction-cache lines only.
            unsafe { asm!("ic ivau, {}", in(reg) line, options(nostack, preserves_flags)) };
            line += info.iline;
        }
        // SAFETY: a barrier.
        unsafe { asm!("dsb ish", options(nostack, preserves_flags)) };
    }
    // SAFETY: flushes this core's pipeline.
    unsafe { asm!("isb", options(nostack, preserves_flags)) };
}

#[cfg(test)]
mod tests {
    use super::CacheInfo;

    #[test]
    fn decodes_ctr_el0() {
        // Cortex-A57: CTR_EL0 = 0x8444c004 (DminLine 4 -> 64 B, IminLine 4 -> 64 B).
        let a57 = CacheInfo::decode(0x8444_c004);
        assert_eq!(
            (a57.dline, a57.iline, a57.idc, a57.dic),
            (64, 64, false, false)
        );
        let coherent = CacheInfo::decode((1 << 29) | (1 << 28) | (3 << 16) | 3);
        assert_eq!(
            (coherent.dline, coherent.iline, coherent.idc, coherent.dic),
            (32, 32, true, true)
        );
    }
}
