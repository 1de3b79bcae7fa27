//! QNX Neutrino 7.x aarch64 kernel calls: `svc #0x51`.
//!
//! # Convention
//!
//! | register | role |
//! |---|---|
//! | `w8` | kernel-call number (`__KER_*` from `sys/kercalls.h`), loaded by the wrapper itself |
//! | `x0`..`x5` | arguments in AAPCS64 order of the C prototype |
//! | `x0` | on return: the result, or a **positive** errno on the error path |
//! | `x9` | on return (set by the wrapper, not the kernel): 0 = success path, 1 = error path |
//!
//! The kernel reports success and failure through the *return address*, not
//! through a value: success returns to the instruction after the `svc`
//! (svc+4); failure returns to svc+8 with a positive errno in `x0`. No flag
//! and no negative value tells them apart, so a wrapper that reads only `x0`
//! would take an errno for a result. Each wrapper therefore gives both return
//! points their own instruction:
//!
//! ```text
//!     mov  w8, #NR
//!     svc  #0x51
//!     b    2f          // svc+4: success path
//!     mov  w9, #1      // svc+8: error path (x0 = errno)
//!     b    3f
//! 2:  mov  w9, #0
//! 3:
//! ```
//!
//! and `os::qnx::kercall::decode` turns the `(x0, x9)` pair into a
//! `Result`. The flag is written *after* the trap on both paths, so it does
//! not depend on the kernel preserving any register.
//!
//! # Evidence (see `shared/reference/qnx-kernel-calls.md`)
//!
//! * QNX 7.0 libc, `TimerTimeout_r` disassembled from a statically linked
//!   7.0 BSP binary (luuhuuquyet/Rock64_QNX700_BSP, `startup-boards-rk3328`):
//!   `mov w8,#75; svc #0x51; ret; neg x0,x0; ret`. Nothing branches to the
//!   second `ret`'s `neg`: only the kernel's skip-ahead reaches svc+8.
//! * libunwind `src/aarch64/Gstep.c` (BlackBerry, 2022) quotes QNX libc's
//!   `MsgSendsv_r: neg x2,x2; mov w8,#0xb; svc #0x51; ret; neg x0,x0; ret`
//!   and says "QNX use w8 to pass kernel call number".
//! * QNX 6.4 kernel source (vocho/openqnx): `kererr()` stores the errno as
//!   the status and advances the user PC by `KERERR_SKIPAHEAD` (4 on ARM);
//!   the same skip-ahead scheme on every CPU.
//! * The 7.x startup library's `KERCALL_SEQUENCE` is `0xd4000a21`
//!   (`svc #0x51`).
//!
//! **Unverified:** no QNX 7.1 aarch64 binary was disassembled; the
//! convention is known from 7.0 stubs plus later libc quotes that agree.
//! Nothing here has executed on QNX.
//!
//! # Clobbers
//!
//! The libc stubs are ordinary AAPCS64 functions that `ret` straight after
//! the `svc`, so the kernel must preserve what a callee preserves (x19-x29,
//! sp, and x30, which the stub returns through); everything a callee may
//! clobber is declared clobbered here: x0-x18 (x18 is a temporary on this
//! target) and the condition flags (no `preserves_flags`). Memory is not
//! `nomem`/`readonly`: many calls read and write user memory. The kernel runs
//! on its own stack (`nostack`).
//!
//! The functions are `#[inline(always)]` and generic over the call number, a
//! `const` operand, so the `mov w8, #NR` is written out in every call site;
//! `os::qnx::kercall` wraps each call in one named `#[inline(never)]`
//! function, which `scripts/check-qnx` finds in the object and checks.

use core::arch::asm;

/// What a kernel call left behind: `x0` and whether control came back
/// through the error path (svc+8).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct RawRet {
    /// `x0` after the call: the result, or the positive errno.
    pub x0: usize,
    /// True when the kernel returned to svc+8 (the error path).
    pub at_error_path: bool,
}

/// Kernel call `NR` with one argument.
///
/// # Safety
/// `NR` must be a kernel call taking one argument, and the call must be
/// valid for it: a pointer argument must point to memory the kernel may read
/// or write as the call's contract says.
#[inline(always)]
pub(crate) unsafe fn kercall1<const NR: u32>(a0: usize) -> RawRet {
    let x0: usize;
    let err: u32;
    // SAFETY: the caller vouches for the call's memory effects; every
    // register the kernel may change is an output or clobber below.
    unsafe {
        asm!(
            "mov w8, #{nr}",   // kernel-call number
            "svc #0x51",       // trap; returns to +4 (ok) or +8 (error)
            "b 2f",            // svc+4: success path
            "mov w9, #1",      // svc+8: error path, x0 = positive errno
            "b 3f",
            "2:",
            "mov w9, #0",
            "3:",
            nr = const NR,
            inlateout("x0") a0 => x0,
            lateout("w9") err,
            lateout("x1") _, lateout("x2") _, lateout("x3") _, lateout("x4") _,
            lateout("x5") _, lateout("x6") _, lateout("x7") _, lateout("x8") _,
            lateout("x10") _, lateout("x11") _, lateout("x12") _, lateout("x13") _,
            lateout("x14") _, lateout("x15") _, lateout("x16") _, lateout("x17") _,
            lateout("x18") _,
            options(nostack)
        );
    }
    RawRet {
        x0,
        at_error_path: err != 0,
    }
}

/// Kernel call `NR` with two arguments.
///
/// # Safety
/// As for [`kercall1`], for a two-argument call.
#[inline(always)]
pub(crate) unsafe fn kercall2<const NR: u32>(a0: usize, a1: usize) -> RawRet {
    let x0: usize;
    let err: u32;
    // SAFETY: the caller vouches for the call's memory effects; every
    // register the kernel may change is an output or clobber below.
    unsafe {
        asm!(
            "mov w8, #{nr}",   // kernel-call number
            "svc #0x51",       // trap; returns to +4 (ok) or +8 (error)
            "b 2f",            // svc+4: success path
            "mov w9, #1",      // svc+8: error path, x0 = positive errno
            "b 3f",
            "2:",
            "mov w9, #0",
            "3:",
            nr = const NR,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            lateout("w9") err,
            lateout("x2") _, lateout("x3") _, lateout("x4") _,
            lateout("x5") _, lateout("x6") _, lateout("x7") _, lateout("x8") _,
            lateout("x10") _, lateout("x11") _, lateout("x12") _, lateout("x13") _,
            lateout("x14") _, lateout("x15") _, lateout("x16") _, lateout("x17") _,
            lateout("x18") _,
            options(nostack)
        );
    }
    RawRet {
        x0,
        at_error_path: err != 0,
    }
}

/// Kernel call `NR` with three arguments.
///
/// # Safety
/// As for [`kercall1`], for a three-argument call.
#[inline(always)]
pub(crate) unsafe fn kercall3<const NR: u32>(a0: usize, a1: usize, a2: usize) -> RawRet {
    let x0: usize;
    let err: u32;
    // SAFETY: the caller vouches for the call's memory effects; every
    // register the kernel may change is an output or clobber below.
    unsafe {
        asm!(
            "mov w8, #{nr}",   // kernel-call number
            "svc #0x51",       // trap; returns to +4 (ok) or +8 (error)
            "b 2f",            // svc+4: success path
            "mov w9, #1",      // svc+8: error path, x0 = positive errno
            "b 3f",
            "2:",
            "mov w9, #0",
            "3:",
            nr = const NR,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            inlateout("x2") a2 => _,
            lateout("w9") err,
            lateout("x3") _, lateout("x4") _,
            lateout("x5") _, lateout("x6") _, lateout("x7") _, lateout("x8") _,
            lateout("x10") _, lateout("x11") _, lateout("x12") _, lateout("x13") _,
            lateout("x14") _, lateout("x15") _, lateout("x16") _, lateout("x17") _,
            lateout("x18") _,
            options(nostack)
        );
    }
    RawRet {
        x0,
        at_error_path: err != 0,
    }
}

/// Kernel call `NR` with five arguments.
///
/// # Safety
/// As for [`kercall1`], for a five-argument call.
#[inline(always)]
pub(crate) unsafe fn kercall5<const NR: u32>(
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
) -> RawRet {
    let x0: usize;
    let err: u32;
    // SAFETY: the caller vouches for the call's memory effects; every
    // register the kernel may change is an output or clobber below.
    unsafe {
        asm!(
            "mov w8, #{nr}",   // kernel-call number
            "svc #0x51",       // trap; returns to +4 (ok) or +8 (error)
            "b 2f",            // svc+4: success path
            "mov w9, #1",      // svc+8: error path, x0 = positive errno
            "b 3f",
            "2:",
            "mov w9, #0",
            "3:",
            nr = const NR,
            inlateout("x0") a0 => x0,
            inlateout("x1") a1 => _,
            inlateout("x2") a2 => _,
            inlateout("x3") a3 => _,
            inlateout("x4") a4 => _,
            lateout("w9") err,
            lateout("x5") _, lateout("x6") _, lateout("x7") _, lateout("x8") _,
            lateout("x10") _, lateout("x11") _, lateout("x12") _, lateout("x13") _,
            lateout("x14") _, lateout("x15") _, lateout("x16") _, lateout("x17") _,
            lateout("x18") _,
            options(nostack)
        );
    }
    RawRet {
        x0,
        at_error_path: err != 0,
    }
}
