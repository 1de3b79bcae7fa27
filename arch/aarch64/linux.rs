//! Linux aarch64 system calls: `svc #0`.
//!
//! Convention (Linux `arch/arm64/kernel/syscall.c`, `el0_svc_common`):
//!
//! | register | role |
//! |---|---|
//! | `x8` | system-call number |
//! | `x0`..`x5` | arguments 1..6; `x0` also holds the result |
//! | everything else | preserved, except SVE state (below) |
//!
//! SVE: "On syscall, V0..V31 are preserved (as without SVE). Thus, bits
//! [127:0] of Z0..Z31 are preserved. All other bits of Z0..Z31, and all of
//! P0..P15 and FFR become zero on return from a syscall" (the kernel's
//! `Documentation/arch/arm64/sve.rst`, "System call behaviour"; zeroed
//! since Linux 6.0's documentation of the actual behaviour, "unspecified"
//! before). The wrappers declare no clobber for it, on purpose: without
//! the `sve` target feature (this crate's targets: `aarch64-unknown-linux-
//! musl`, `-gnu`) the compiler never allocates a Z, P or FFR register, and
//! the V registers it does use keep their low 128 bits, all of them. Rust
//! has no register class for the Z registers' upper bits: the only
//! declaration that would cover them is clobbering all of v0..v31, which
//! would make every inlined system call spill the caller's floating-point
//! state for nothing. A `+sve` build could keep a scalable vector or a
//! predicate live across an inlined `svc` and see it zeroed, so such a
//! build is refused below (add `out("p0") _` .. `out("ffr") _` and
//! `clobber_abi("C")`-style vector clobbers before lifting that).
//!
//! The result is a raw word: values in `[-4095, -1]` are `-errno`; decode
//! with `os::linux::syscall::ret`. `eret` restores PSTATE, so flags are
//! preserved (`preserves_flags`); the kernel uses its own stack (`nostack`).
//! Only `syscall0_readonly` promises `readonly`.
//!
//! Pointers cross into these functions as `usize` (their provenance is
//! exposed by the caller's `as usize` / `expose_provenance`).

use core::arch::asm;

#[cfg(target_feature = "sve")]
compile_error!(
    "arch/aarch64/linux.rs: the svc wrappers declare no SVE clobbers (see the module docs); \
     build without +sve or add them"
);

/// `long syscall0(long nr)` for calls that touch no user memory (getpid).
///
/// # Safety
/// `nr` must name a system call with no arguments that reads and writes no
/// user memory and has no effect the Rust abstract machine must know about.
#[inline]
pub(crate) unsafe fn syscall0_readonly(nr: u32) -> usize {
    let r: usize;
    // SAFETY: the caller guarantees the call has no memory effects; the
    // kernel preserves every register but x0.
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr as usize,
            lateout("x0") r,
            options(nostack, preserves_flags, readonly)
        );
    }
    r
}

/// `long syscall1(long nr, long a0)`.
///
/// # Safety
/// The call must be valid for these arguments: pointer arguments point to
/// memory the kernel may read or write as the call's contract says.
#[inline]
pub(crate) unsafe fn syscall1(nr: u32, a0: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call's memory effects (see `# Safety`).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr as usize,
            inlateout("x0") a0 => r,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `noreturn void syscall1_noreturn(long nr, long a0)`, with `brk #0x1`
/// after the `svc` so a call that returns against its contract traps at once.
///
/// # Safety
/// `nr` must be a call that does not return (exit, exit_group).
#[inline]
pub(crate) unsafe fn syscall1_noreturn(nr: u32, a0: usize) -> ! {
    // SAFETY: the caller guarantees the call does not return; if it does,
    // `brk` raises SIGTRAP instead of running off the end.
    unsafe {
        asm!(
            "svc #0",
            "brk #0x1",
            in("x8") nr as usize,
            in("x0") a0,
            options(nostack, noreturn)
        );
    }
}

/// `long syscall2(long nr, long a0, long a1)`.
///
/// # Safety
/// As for [`syscall1`].
#[inline]
pub(crate) unsafe fn syscall2(nr: u32, a0: usize, a1: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call's memory effects (see `# Safety`).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr as usize,
            inlateout("x0") a0 => r,
            in("x1") a1,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `long syscall3(long nr, long a0, long a1, long a2)`.
///
/// # Safety
/// As for [`syscall1`].
#[inline]
pub(crate) unsafe fn syscall3(nr: u32, a0: usize, a1: usize, a2: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call's memory effects (see `# Safety`).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr as usize,
            inlateout("x0") a0 => r,
            in("x1") a1, in("x2") a2,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `long syscall4(long nr, long a0, long a1, long a2, long a3)`.
///
/// # Safety
/// As for [`syscall1`].
#[inline]
pub(crate) unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call's memory effects (see `# Safety`).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr as usize,
            inlateout("x0") a0 => r,
            in("x1") a1, in("x2") a2, in("x3") a3,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `long syscall5(long nr, long a0, ..., long a4)`; arguments in x0..x4.
///
/// # Safety
/// As for [`syscall1`].
#[inline]
pub(crate) unsafe fn syscall5(
    nr: u32,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call's memory effects (see `# Safety`).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr as usize,
            inlateout("x0") a0 => r,
            in("x1") a1, in("x2") a2, in("x3") a3, in("x4") a4,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `long syscall6(long nr, long a0, ..., long a5)`.
///
/// # Safety
/// As for [`syscall1`].
#[inline]
pub(crate) unsafe fn syscall6(
    nr: u32,
    a0: usize,
    a1: usize,
    a2: usize,
    a3: usize,
    a4: usize,
    a5: usize,
) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call's memory effects (see `# Safety`).
    unsafe {
        asm!(
            "svc #0",
            in("x8") nr as usize,
            inlateout("x0") a0 => r,
            in("x1") a1, in("x2") a2, in("x3") a3, in("x4") a4, in("x5") a5,
            options(nostack, preserves_flags)
        );
    }
    r
}
