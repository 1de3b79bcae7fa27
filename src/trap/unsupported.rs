//! The trap entry points where traps are not implemented (QNX, Zephyr):
//! every `wrt_*` symbol of the header exists on every target, and none of
//! them pretends.
//!
//! * `wrt_trap_init`, `wrt_thread_init` return `WRT_E_NOT_SUPPORTED` (the
//!   C entry points in `src/capi/trap.rs` call [`os`]); `wrt_thread_fini`
//!   returns `WRT_OK` (there is nothing to undo).
//! * `wrt_call` returns `WRT_E_NOT_SUPPORTED` **without calling `fn`**:
//!   running generated code whose guard faults nobody would catch is not a
//!   fallback, it is a crash later.
//! * `wrt_trap_raise` has no `wrt_call` to return to, so it stops the
//!   program with the permanently undefined instruction `udf #0x5752`
//!   (aarch64; `ud2` on x86_64): an undefined-instruction exception (SIGILL
//!   on QNX, a synchronous exception with ESR_EL1.EC 0x00 on Zephyr, where
//!   the kernel's vector decides).
//!
//! Why per platform (also in the README): QNX delivers signals through its
//! own kernel calls (`SignalAction` with a per-process stub, `SignalReturn`)
//! and has no alternate signal stack, and that path is not implemented; on
//! Zephyr a fault is a synchronous exception whose vector belongs to
//! Zephyr's kernel (its fatal-error path), not to the helper, the hook
//! into it is not written, and the Zephyr allocators cannot make pages
//! inaccessible. (macOS has its own backend, `macos.rs`; bare metal EL1
//! has `baremetal.rs`, which the integrator's own vector calls.)

use core::ffi::c_void;

use crate::capi::{WRT_E_NOT_SUPPORTED, WRT_OK, wrt_trap_info};

/// The C entry points' platform half (same names as the Linux backend).
pub(crate) mod os {
    use super::{WRT_E_NOT_SUPPORTED, WRT_OK};

    /// `wrt_trap_init`: nothing is installed.
    pub(crate) fn init() -> i32 {
        WRT_E_NOT_SUPPORTED as i32
    }

    /// `wrt_thread_init`: no alternate stack, no slot.
    pub(crate) fn thread_init() -> i32 {
        WRT_E_NOT_SUPPORTED as i32
    }

    /// `wrt_thread_fini`: nothing to undo.
    pub(crate) fn thread_fini() -> i32 {
        WRT_OK as i32
    }
}

/// `wrt_call` where traps are not implemented: returns
/// `WRT_E_NOT_SUPPORTED` and never calls `fn` (declared for C and Rust in
/// `src/capi/trap.rs`).
///
/// # Safety
/// None needed (no argument is dereferenced); `unsafe` to match the
/// declaration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wrt_call(
    _fn: Option<unsafe extern "C" fn(ctx: *mut c_void)>,
    _ctx: *mut c_void,
    _info: *mut wrt_trap_info,
) -> i32 {
    WRT_E_NOT_SUPPORTED as i32
}

/// `wrt_trap_raise` where traps are not implemented: there is no
/// `wrt_call` to end, so it executes a permanently undefined instruction
/// (`udf #0x5752`, "WR"; `ud2` on x86_64) and never returns.
///
/// # Safety
/// None needed; `unsafe` to match the declaration.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wrt_trap_raise(_code: i32) -> ! {
    // SAFETY: the instruction only raises an undefined-instruction
    // exception; nothing continues after it.
    unsafe {
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!("udf #0x5752", options(noreturn, nomem, nostack));
        #[cfg(target_arch = "x86_64")]
        core::arch::asm!("ud2", options(noreturn, nomem, nostack));
    }
}
