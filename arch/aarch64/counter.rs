//! The generic timer's virtual counter, read where the helper runs on
//! aarch64 with access to it: Linux user space (the kernel sets
//! `CNTKCTL_EL1.EL0VCTEN`) and bare metal at EL1. Used by the bare-metal
//! clock and by the wait queue's monitor phase on both.

use core::arch::asm;

/// `uint64_t now(void)`: `CNTVCT_EL0`, the virtual count of the generic
/// timer, after an `isb` so it is not read early.
///
/// Registers: out only. Readable at EL1 always; at EL0 only if
/// `CNTKCTL_EL1.EL0VCTEN` is set (Linux sets it).
#[inline]
pub(crate) fn now() -> u64 {
    let v: u64;
    // SAFETY: reads a system register; no memory access.
    unsafe {
        asm!(
            "isb",
            "mrs {}, cntvct_el0",
            out(reg) v,
            options(nomem, nostack, preserves_flags)
        );
    }
    v
}

/// `uint64_t frequency(void)`: `CNTFRQ_EL0`, the counter frequency in Hz
/// as firmware (or the boot code) programmed it; 0 if nobody did.
#[inline]
pub(crate) fn frequency() -> u64 {
    let v: u64;
    // SAFETY: reads a system register; no memory access.
    unsafe {
        asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack, preserves_flags));
    }
    v
}
