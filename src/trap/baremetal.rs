//! Bare metal, EL1: traps through the integrator's exception vector.
//!
//! There are no signals and the helper owns no vector table: `VBAR_EL1`
//! belongs to the integrator (an RTOS, a boot loader, the qemu-system
//! harness in `baremetal-tests/`). So the helper installs nothing: the
//! integrator's synchronous-exception handler calls
//! `wrt_baremetal_sync_exception` (`src/capi/trap.rs`) with the exception's
//! syndrome and the interrupted context, and either the helper handles it
//! (a trap: the saved context is rewritten, the handler restores it and
//! `eret`s) or nothing changed and the integrator does what it would have
//! done without the helper. A fault that is not a trap is therefore never
//! swallowed: it is the integrator's, as before.
//!
//! # What is a trap
//! The same decision as on Linux ([`super::take`]): the calling context is
//! inside a `wrt_call`, the exception is a data abort (ESR_EL1.EC 0x25 from
//! EL1, or 0x24 from EL0 when the integrator runs Wasm code there) with a
//! translation, access-flag or permission fault status (DFSC 0x04-0x0F)
//! and a valid FAR_EL1 (FnV clear), the PC (ELR_EL1) is not in the
//! helper's own code, and FAR_EL1 lies in a live memory's reservation at or
//! past its current size. Anything else (an instruction abort, an
//! alignment or external abort, `udf`, `brk`, a fault at an address no
//! memory owns) is not a trap. The faulting address is only inaccessible
//! if the integrator's translation tables say so: that is what
//! `wrt_baremetal_set_protect_hook` is for (the bump allocator calls the
//! hook to make reserved-but-uncommitted pages and guards invalid, and
//! committed pages valid). `wrt_trap_info.signal` is 0 on bare metal
//! (there are no signals); `address` is FAR_EL1 and `pc` is ELR_EL1.
//!
//! # Resuming
//! An exception return (`eret`) restores PC and PSTATE from ELR_EL1 and
//! SPSR_EL1 and the general registers from whatever the integrator's
//! handler reloads, but it cannot set the interrupted code's stack pointer
//! to the `wrt_call` frame: the handler pops its own exception frame and
//! returns to the SP the exception came from. So the handler records the
//! trap (info written, frame unlinked, `frame.code` set, exactly as
//! `wrt_trap_raise` does), points the saved ELR at `wrt_trap_unwind`
//! (`asm/aarch64-elf/trap.s`), puts the frame's address in the saved x0 and
//! clears SPSR.BTYPE (so the landing pad check passes whatever branch led
//! to the fault); after the integrator's `eret`, `wrt_trap_unwind` moves SP
//! to the frame and continues at `wrt_trap_resume`, which returns from
//! `wrt_call` with the code. The integrator only has to write back three
//! saved words (ELR, SPSR, x0), which every vector that can return from an
//! exception keeps. The interrupt mask (SPSR.DAIF) is the one the trapping
//! code ran with, as the signal mask is on Linux.
//!
//! # Per-context chains
//! A context is known by `TPIDR_EL0`, which the helper only reads (as on
//! Linux aarch64): every context that may call `wrt_call` (the main flow
//! of each core, every thread of the integrator's scheduler) needs its own
//! `TPIDR_EL0` value while it runs, set at boot per core and switched with
//! the rest of a thread's state by a scheduler. Contexts with the same
//! value would share one chain of calls.
//!
//! # What is not reported
//! A stack overflow becomes `WRT_TRAP_STACK_OVERFLOW` by the same rule as
//! on Linux (an access just below the interrupted SP, outside every
//! memory), but only if the integrator's tables make the end of a stack
//! fault and its vector runs on a stack of its own (code on SP_EL0,
//! exceptions on SP_EL1): a vector that pushes its frame onto the
//! overflowed stack faults again inside itself. There is no alternate
//! stack to set up, so `wrt_thread_init` only takes the context's slot.
//! There is no MTE tag-check trap (no tagged memories on this backend).

use super::{Fault, FaultKind};
use crate::capi::{WRT_E_INVALID, WRT_E_TOO_MANY, WRT_OK, wrt_baremetal_exception};
use core::sync::atomic::{AtomicBool, Ordering};

/// `wrt_trap_init` has run.
static READY: AtomicBool = AtomicBool::new(false);

/// Whether `wrt_trap_init` has run.
pub(crate) fn initialized() -> bool {
    READY.load(Ordering::Acquire)
}

/// `wrt_trap_init`: nothing to install (the vector is the integrator's);
/// from now on `wrt_call` runs code and `wrt_baremetal_sync_exception` may turn
/// faults into traps. Idempotent.
pub(crate) fn init() -> i32 {
    READY.store(true, Ordering::Release);
    WRT_OK as i32
}

/// No alternate stack on bare metal: a context's bookkeeping is its slot.
pub(crate) struct AltStack;

impl AltStack {
    /// Nothing.
    pub(crate) const NONE: Self = Self;
}

/// `wrt_thread_init`: takes the calling context's slot (as `wrt_call`
/// would lazily). Idempotent.
pub(crate) fn thread_init() -> i32 {
    match super::claim_current_slot() {
        Some(_) => WRT_OK as i32,
        None => WRT_E_TOO_MANY as i32,
    }
}

/// `wrt_thread_fini`: gives the calling context's slot back;
/// `WRT_E_INVALID` inside a `wrt_call`.
pub(crate) fn thread_fini() -> i32 {
    let Some(slot) = super::current_slot() else {
        return WRT_OK as i32;
    };
    if super::in_call(slot) {
        return WRT_E_INVALID as i32;
    }
    super::release_slot(slot);
    WRT_OK as i32
}

/// The calling context's key (`TPIDR_EL0`), read, never written.
pub(crate) use super::tpidr_el0 as thread_pointer;

/// ESR_EL1.EC of a data abort from a lower EL / the same EL.
const EC_DABT_LOWER: u64 = 0x24;
const EC_DABT_SAME: u64 = 0x25;
/// ESR_EL1.ISS.FnV: FAR_EL1 is not valid.
const FNV: u64 = 1 << 10;
/// SPSR_EL1.BTYPE (bits 11:10).
const BTYPE: u64 = 0xC00;

unsafe extern "C" {
    /// `trap.s`: moves SP to the frame in x0 and resumes it. Not callable;
    /// only its address is used.
    fn wrt_trap_unwind();
}

/// The fault an exception describes, if it is a kind that may be a trap.
fn fault(e: &wrt_baremetal_exception) -> Option<Fault> {
    let ec = e.esr >> 26;
    let dfsc = e.esr & 0x3f;
    let abort = ec == EC_DABT_SAME || ec == EC_DABT_LOWER;
    // Translation (0x04-0x07), access flag (0x08-0x0B), permission
    // (0x0C-0x0F) faults at any level.
    if !abort || !(0x04..=0x0f).contains(&dfsc) || e.esr & FNV != 0 {
        return None;
    }
    Some(Fault {
        signal: 0,
        kind: FaultKind::Access,
        addr: e.far as usize,
        pc: e.elr as usize,
        sp: e.sp as usize,
    })
}

/// `wrt_baremetal_sync_exception`: 1 when the exception was a trap (and `e`'s
/// `elr`, `spsr`, `x0` now resume the `wrt_call`), 0 when it was not
/// (nothing changed). Lock-free: atomic loads of the context and memory
/// tables.
pub(crate) fn sync_exception(e: &mut wrt_baremetal_exception) -> i32 {
    if !initialized() {
        return 0;
    }
    let Some(f) = fault(e) else {
        return 0;
    };
    let Some((frame, code)) = super::take(&f) else {
        return 0;
    };
    // SAFETY: `take` returned the context's innermost live frame, just
    // unlinked; it stays on the interrupted stack, untouched until
    // `wrt_trap_unwind` resumes it.
    unsafe { (*frame).code = code };
    e.elr = wrt_trap_unwind as *const () as u64;
    e.spsr &= !BTYPE;
    e.x0 = frame as u64;
    1
}
