//! Linux x86_64 system calls: the `syscall` instruction.
//!
//! Convention (Linux `arch/x86/entry/entry_64.S`, header comment):
//!
//! | register | role |
//! |---|---|
//! | `rax` | system-call number in, result out |
//! | `rdi`, `rsi`, `rdx`, `r10`, `r8`, `r9` | arguments 1..6 (`r10`, not `rcx`, holds the 4th) |
//! | `rcx`, `r11` | clobbered by the CPU (`rcx` = return rip, `r11` = saved rflags) |
//!
//! The result is a raw word: values in `[-4095, -1]` are `-errno`; decode
//! with `os::linux::syscall::ret`. `sysret` restores rflags from `r11`, so
//! flags are preserved (`preserves_flags`); the kernel uses its own stack
//! (`nostack`). Memory may be read or written by the kernel through pointer
//! arguments, so only `syscall0_readonly` promises `readonly` (no arguments,
//! no memory access).
//!
//! Pointers cross into these functions as `usize` (their provenance is
//! exposed by the caller's `as usize` / `expose_provenance`).

use core::arch::asm;

/// `long syscall0(long nr)` for calls that touch no user memory (getpid).
///
/// # Safety
/// `nr` must name a system call with no arguments that reads and writes no
/// user memory and has no effect the Rust abstract machine must know about.
#[inline]
pub(crate) unsafe fn syscall0_readonly(nr: u32) -> usize {
    let r: usize;
    // SAFETY: the caller guarantees the call has no memory effects; rcx and
    // r11 are declared clobbered, everything else is preserved by the kernel.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as usize => r,
            lateout("rcx") _, lateout("r11") _,
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
            "syscall",
            inlateout("rax") nr as usize => r,
            in("rdi") a0,
            lateout("rcx") _, lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `noreturn void syscall1_noreturn(long nr, long a0)`, with `ud2` after the
/// `syscall` so a call that returns against its contract traps at once.
///
/// # Safety
/// `nr` must be a call that does not return (exit, exit_group).
#[inline]
pub(crate) unsafe fn syscall1_noreturn(nr: u32, a0: usize) -> ! {
    // SAFETY: the caller guarantees the call does not return; if it does,
    // `ud2` raises SIGILL instead of running off the end.
    unsafe {
        asm!(
            "syscall",
            "ud2",
            in("rax") nr as usize,
            in("rdi") a0,
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
            "syscall",
            inlateout("rax") nr as usize => r,
            in("rdi") a0, in("rsi") a1,
            lateout("rcx") _, lateout("r11") _,
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
            "syscall",
            inlateout("rax") nr as usize => r,
            in("rdi") a0, in("rsi") a1, in("rdx") a2,
            lateout("rcx") _, lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `long syscall4(long nr, long a0, long a1, long a2, long a3)`; the 4th
/// argument goes in `r10`.
///
/// # Safety
/// As for [`syscall1`].
#[inline]
pub(crate) unsafe fn syscall4(nr: u32, a0: usize, a1: usize, a2: usize, a3: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call's memory effects (see `# Safety`).
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") nr as usize => r,
            in("rdi") a0, in("rsi") a1, in("rdx") a2, in("r10") a3,
            lateout("rcx") _, lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `long syscall5(long nr, long a0, ..., long a4)`; arguments 4 and 5 go in
/// `r10`, `r8`.
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
            "syscall",
            inlateout("rax") nr as usize => r,
            in("rdi") a0, in("rsi") a1, in("rdx") a2, in("r10") a3, in("r8") a4,
            lateout("rcx") _, lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    r
}

/// `long syscall6(long nr, long a0, ..., long a5)`; arguments 4..6 go in
/// `r10`, `r8`, `r9`.
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
            "syscall",
            inlateout("rax") nr as usize => r,
            in("rdi") a0, in("rsi") a1, in("rdx") a2,
            in("r10") a3, in("r8") a4, in("r9") a5,
            lateout("rcx") _, lateout("r11") _,
            options(nostack, preserves_flags)
        );
    }
    r
}
