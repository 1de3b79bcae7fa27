//! macOS (XNU) arm64 traps: BSD system calls and Mach traps, both entered
//! with `svc #0x80`, plus the cache-maintenance instructions code pages need.
//!
//! Nothing here has executed on a Mac: it is built for
//! `aarch64-apple-darwin` and its instruction sequences are checked in the
//! disassembly by `scripts/check-macos`.
//!
//! # Convention
//!
//! Sources: XNU (apple-oss-distributions/xnu) `osfmk/arm64/sleh.c`
//! `handle_svc`, `bsd/dev/arm/systemcalls.c` (`arm_get_u64_syscall_args`,
//! `arm_prepare_u64_syscall_return`), `osfmk/arm64/bsd_arm64.c` (Mach trap
//! arguments and return), `osfmk/arm64/proc_reg.h`
//! (`ARM64_SYSCALL_CODE_REG_NUM` = 16); the libsyscall stub
//! `mov x16, #n; svc #0x80; b.cc ...` in `libsyscall/custom/SYS.h`.
//!
//! | register | BSD system call | Mach trap |
//! |---|---|---|
//! | `x16` | call number (> 0; 0 would be the indirect `syscall()`) | trap number (< 0) |
//! | `x0`..`x5` | arguments | arguments |
//! | `x0` on return | result, or the **positive** errno on failure | `kern_return_t`, a port name or a value |
//! | `x1` on return | second result word; 0 on failure | not written (declared clobbered anyway) |
//! | `NZCV.C` on return | **set on failure, clear on success** | not defined |
//! | everything else | preserved (restored from the saved state) | preserved |
//!
//! libsyscall's stubs are ordinary functions, so libSystem's callers never
//! rely on x2..x17 surviving a call; this backend does, on the strength of
//! the kernel source: the exception return restores the saved register
//! file, and only `arm_prepare_u64_syscall_return` / `arm_set_mach_syscall_ret`
//! write x0, x1 and the flags. The ERESTART mechanism below depends on the
//! same fact (the kernel re-runs the `svc` with the registers as they are).
//!
//! # Why the carry flag is read inside the asm block
//!
//! The kernel reports failure only through the carry flag
//! (`cpsr |= PSR64_CF`). Rust gives no way to observe a flag after an `asm!`
//! block ends, so each BSD wrapper reads it with `cset <w>, cs` as the
//! instruction right after the `svc`, and none uses `preserves_flags` (the
//! flags *are* changed). Reading x0 alone cannot work: a successful call may
//! return any word (an address, a count), and the errno is positive.
//!
//! # Why a restarted call sees its arguments (ERESTART)
//!
//! On `ERESTART` the kernel only moves the saved PC back by 4 bytes
//! (`add_saved_state_pc(regs, -4)` in `arm_prepare_u64_syscall_return`),
//! so the `svc` itself runs again; it writes neither x0 nor x1 in that case.
//! The number and the arguments are `in`/`inlateout` operands in x16 and
//! x0..x5, which the compiler loads *before* the block, and `svc` is the
//! block's first instruction: no instruction of ours runs between the loads
//! and the trap, so re-executing just the `svc` presents the same x16 and
//! x0..x5 to the kernel. If a signal handler runs in between, the kernel
//! saves and restores the whole register file around it. The only
//! instruction after the `svc` (`cset`) writes a `lateout` register and is
//! never re-executed before the trap, so even if the compiler gives it one
//! of the input registers, the trap has already read them.
//!
//! # Registers and options
//!
//! x1 is an output of every wrapper (written by the kernel, discarded), and
//! `nostack` holds (the kernel uses its own stack). No wrapper claims
//! `nomem`/`readonly`: most calls read or write user memory, and the
//! callers' `SAFETY` comments carry that obligation. The wrappers are
//! `#[inline(always)]` so that the constant call number becomes a
//! `mov x16, #n` in the caller: the per-call functions in
//! `src/os/macos/sys.rs` are `#[inline(never)]` and are what the
//! disassembly check inspects.

use core::arch::asm;

/// `syscall2(nr, a0, a1) -> (x0, carry)`.
///
/// # Safety
/// `nr` must be a BSD system call whose effects are valid for these
/// arguments: pointer arguments must point to memory the kernel may read or
/// write as the call's contract says.
#[inline(always)]
pub(crate) unsafe fn bsd_syscall2(nr: u32, a0: usize, a1: usize) -> (usize, bool) {
    let x0: usize;
    let carry: u32;
    // SAFETY: the caller vouches for the call's memory effects; the kernel
    // writes x0, x1 and NZCV only (module docs).
    unsafe {
        asm!(
            "svc #0x80",          // first instruction: ERESTART re-executes only this
            "cset {carry:w}, cs", // carry set = failure, x0 = positive errno
            in("x16") nr as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            carry = lateout(reg) carry,
            options(nostack),
        );
    }
    (x0, carry != 0)
}

/// `syscall3(nr, a0, a1, a2) -> (x0, carry)`.
///
/// # Safety
/// As for [`bsd_syscall2`].
#[inline(always)]
pub(crate) unsafe fn bsd_syscall3(nr: u32, a0: usize, a1: usize, a2: usize) -> (usize, bool) {
    let x0: usize;
    let carry: u32;
    // SAFETY: the caller vouches for the call's memory effects; the kernel
    // writes x0, x1 and NZCV only (module docs).
    unsafe {
        asm!(
            "svc #0x80",          // first instruction: ERESTART re-executes only this
            "cset {carry:w}, cs", // carry set = failure, x0 = positive errno
            in("x16") nr as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            carry = lateout(reg) carry,
            options(nostack),
        );
    }
    (x0, carry != 0)
}

/// `syscall4(nr, a0, a1, a2, a3) -> (x0, carry)`.
///
/// # Safety
/// As for [`bsd_syscall2`].
#[inline(always)]
pub(crate) unsafe fn bsd_syscall4(
    nr: u32,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
) -> (usize, bool) {
    let x0: usize;
    let carry: u32;
    // SAFETY: the caller vouches for the call's memory effects; the kernel
    // writes x0, x1 and NZCV only (module docs).
    unsafe {
        asm!(
            "svc #0x80",          // first instruction: ERESTART re-executes only this
            "cset {carry:w}, cs", // carry set = failure, x0 = positive errno
            in("x16") nr as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            in("x3") a3,
            carry = lateout(reg) carry,
            options(nostack),
        );
    }
    (x0, carry != 0)
}

/// `syscall5(nr, a0, .., a4) -> (x0, carry)`.
///
/// # Safety
/// As for [`bsd_syscall2`].
#[inline(always)]
pub(crate) unsafe fn bsd_syscall5(
    nr: u32,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
) -> (usize, bool) {
    let x0: usize;
    let carry: u32;
    // SAFETY: the caller vouches for the call's memory effects; the kernel
    // writes x0, x1 and NZCV only (module docs).
    unsafe {
        asm!(
            "svc #0x80",          // first instruction: ERESTART re-executes only this
            "cset {carry:w}, cs", // carry set = failure, x0 = positive errno
            in("x16") nr as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            carry = lateout(reg) carry,
            options(nostack),
        );
    }
    (x0, carry != 0)
}

/// `syscall6(nr, a0, .., a5) -> (x0, carry)`.
///
/// # Safety
/// As for [`bsd_syscall2`].
#[inline(always)]
pub(crate) unsafe fn bsd_syscall6(
    nr: u32,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> (usize, bool) {
    let x0: usize;
    let carry: u32;
    // SAFETY: the caller vouches for the call's memory effects; the kernel
    // writes x0, x1 and NZCV only (module docs).
    unsafe {
        asm!(
            "svc #0x80",          // first instruction: ERESTART re-executes only this
            "cset {carry:w}, cs", // carry set = failure, x0 = positive errno
            in("x16") nr as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            in("x5") a5,
            carry = lateout(reg) carry,
            options(nostack),
        );
    }
    (x0, carry != 0)
}

/// Mach trap with no arguments; returns x0.
///
/// # Safety
/// `nr` must be a negative Mach trap number whose effects need no
/// arguments (task_self_trap, `MACH_ARM_TRAP_ABSTIME`).
#[inline(always)]
pub(crate) unsafe fn mach_trap0(nr: i32) -> usize {
    let x0: usize;
    // SAFETY: the caller vouches for the trap; the kernel writes x0 only.
    unsafe {
        asm!(
            "svc #0x80", // x16 < 0: Mach trap, result in x0, no carry convention
            in("x16") nr as isize as usize,
            lateout("x0") x0,
            lateout("x1") _,
            options(nostack),
        );
    }
    x0
}

/// Mach trap with one argument; returns x0.
///
/// # Safety
/// As for [`mach_trap0`]; pointer arguments must be valid for the trap.
#[inline(always)]
pub(crate) unsafe fn mach_trap1(nr: i32, a0: usize) -> usize {
    let x0: usize;
    // SAFETY: the caller vouches for the trap's memory effects.
    unsafe {
        asm!(
            "svc #0x80", // x16 < 0: Mach trap, result in x0, no carry convention
            in("x16") nr as isize as usize,
            inlateout("x0") a0 => x0,
            lateout("x1") _,
            options(nostack),
        );
    }
    x0
}

/// Mach trap with two arguments; returns x0.
///
/// C prototype: `kern_return_t trap(uint64_t a0, uint64_t a1)`; x16 = `nr`
/// (negative), x0..x1 = arguments, x0 = result; clobbers x1 (declared) and
/// NZCV (no `preserves_flags`).
///
/// # Safety
/// As for [`mach_trap1`].
#[inline(always)]
pub(crate) unsafe fn mach_trap2(nr: i32, a0: usize, a1: usize) -> usize {
    let x0: usize;
    // SAFETY: the caller vouches for the trap's memory effects.
    unsafe {
        asm!(
            "svc #0x80", // x16 < 0: Mach trap, result in x0, no carry convention
            in("x16") nr as isize as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            options(nostack),
        );
    }
    x0
}

/// Mach trap with three arguments; returns x0.
///
/// # Safety
/// As for [`mach_trap1`].
#[inline(always)]
pub(crate) unsafe fn mach_trap3(nr: i32, a0: usize, a1: usize, a2: usize) -> usize {
    let x0: usize;
    // SAFETY: the caller vouches for the trap's memory effects.
    unsafe {
        asm!(
            "svc #0x80", // x16 < 0: Mach trap, result in x0, no carry convention
            in("x16") nr as isize as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            options(nostack),
        );
    }
    x0
}

/// Mach trap with four arguments; returns x0.
///
/// # Safety
/// As for [`mach_trap1`].
#[inline(always)]
pub(crate) unsafe fn mach_trap4(nr: i32, a0: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let x0: usize;
    // SAFETY: the caller vouches for the trap's memory effects.
    unsafe {
        asm!(
            "svc #0x80", // x16 < 0: Mach trap, result in x0, no carry convention
            in("x16") nr as isize as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            in("x3") a3,
            options(nostack),
        );
    }
    x0
}

/// Mach trap with five arguments; returns x0.
///
/// # Safety
/// As for [`mach_trap1`].
#[inline(always)]
pub(crate) unsafe fn mach_trap5(
    nr: i32,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
) -> usize {
    let x0: usize;
    // SAFETY: the caller vouches for the trap's memory effects.
    unsafe {
        asm!(
            "svc #0x80", // x16 < 0: Mach trap, result in x0, no carry convention
            in("x16") nr as isize as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            options(nostack),
        );
    }
    x0
}

/// Mach trap with six arguments; returns x0.
///
/// # Safety
/// As for [`mach_trap1`].
#[inline(always)]
pub(crate) unsafe fn mach_trap6(
    nr: i32,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> usize {
    let x0: usize;
    // SAFETY: the caller vouches for the trap's memory effects.
    unsafe {
        asm!(
            "svc #0x80", // x16 < 0: Mach trap, result in x0, no carry convention
            in("x16") nr as isize as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            in("x5") a5,
            options(nostack),
        );
    }
    x0
}

/// Mach trap with eight arguments (`mach_msg2_trap`); returns x0.
///
/// C prototype: `mach_msg_return_t trap(uint64_t a0, ..., uint64_t a7)`;
/// x16 = `nr` (negative), x0..x7 = arguments (`arm_get_mach_syscall_args`
/// copies `mach_trap_arg_count` registers from x0, 8 for trap -47), x0 =
/// result; clobbers x1 (declared) and NZCV (no `preserves_flags`).
///
/// # Safety
/// As for [`mach_trap1`].
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn mach_trap8(
    nr: i32,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
    a6: usize,
    a7: usize,
) -> usize {
    let x0: usize;
    // SAFETY: the caller vouches for the trap's memory effects.
    unsafe {
        asm!(
            "svc #0x80", // x16 < 0: Mach trap, result in x0, no carry convention
            in("x16") nr as isize as usize,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            in("x2") a2,
            in("x3") a3,
            in("x4") a4,
            in("x5") a5,
            in("x6") a6,
            in("x7") a7,
            options(nostack),
        );
    }
    x0
}

/// `dc cvau, addr`: cleans the data-cache line holding `addr` to the point
/// of unification, so instruction fetches can see what was stored there.
///
/// XNU sets `SCTLR_EL1.UCI` (`SCTLR_EL1_DEFAULT` in `osfmk/arm64/proc_reg.h`),
/// so this runs at EL0.
///
/// # Safety
/// `addr` must be mapped readable in this process (otherwise the
/// instruction faults like a load).
#[inline(always)]
pub(crate) unsafe fn dc_cvau(addr: usize) {
    // SAFETY: the caller guarantees `addr` is mapped readable; the
    // instruction changes no architectural state visible to Rust. No
    // `nomem`: it must stay ordered after the stores that wrote the code.
    unsafe { asm!("dc cvau, {a}", a = in(reg) addr, options(nostack, preserves_flags)) }
}

/// `ic ivau, addr`: invalidates the instruction-cache line holding `addr`
/// to the point of unification (EL0 access as for [`dc_cvau`]).
///
/// # Safety
/// As for [`dc_cvau`].
#[inline(always)]
pub(crate) unsafe fn ic_ivau(addr: usize) {
    // SAFETY: as for `dc_cvau`.
    unsafe { asm!("ic ivau, {a}", a = in(reg) addr, options(nostack, preserves_flags)) }
}

/// `dsb ish`: waits until earlier cache maintenance and memory accesses are
/// complete for the inner-shareable domain.
#[inline(always)]
pub(crate) fn dsb_ish() {
    // SAFETY: a barrier has no memory-safety preconditions; no `nomem`, so
    // it also orders the compiler's memory accesses.
    unsafe { asm!("dsb ish", options(nostack, preserves_flags)) }
}

/// `isb`: discards already-fetched instructions on this core.
#[inline(always)]
pub(crate) fn isb() {
    // SAFETY: as for `dsb_ish`.
    unsafe { asm!("isb", options(nostack, preserves_flags)) }
}
