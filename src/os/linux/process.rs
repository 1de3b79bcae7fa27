//! Process-level calls: `getpid`, `exit_group`.

/// `getpid()`. The cheapest real system call; the benchmarks use it to
/// measure the cost of our trap wrapper against libc, rustix and sc.
#[inline]
pub fn getpid() -> u32 {
    // SAFETY: getpid takes no arguments and touches no user memory.
    let raw = unsafe { syscall!(__NR_getpid) };
    // getpid cannot fail and pids fit in 31 bits.
    raw as u32
}

/// `exit_group(code)`: ends every thread of the process. A trap follows the
/// system call, so a return against the kernel's contract faults at once.
pub fn exit_group(code: i32) -> ! {
    // SAFETY: exit_group does not return; the wrapper traps if it did.
    // `code as isize as usize` sign-extends as the kernel's `int` expects.
    unsafe {
        crate::arch::linux::syscall1_noreturn(
            linux_raw_sys::general::__NR_exit_group,
            code as isize as usize,
        )
    }
}
