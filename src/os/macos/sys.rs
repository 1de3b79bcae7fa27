//! One function per XNU call the backend makes, each `#[inline(never)]`.
//!
//! These are the only callers of the trap wrappers in
//! `arch/aarch64/macos.rs`. Keeping each out of line is deliberate: the
//! call number is a constant, so each function's body is
//! `mov x16, #n` ... `svc #0x80` (`cset w, hs` for BSD calls), and
//! `scripts/check-macos` finds every one of them by name in the built
//! rlib and checks exactly that. The cost is one direct call around a
//! kernel entry that costs far more.
//!
//! BSD calls decode `(x0, carry)` with [`decode_bsd`]; Mach traps decode the
//! `kern_return_t` with [`KernReturn::check`]. Pointers cross as `usize`
//! (their provenance is exposed by the `as usize` casts).

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicU32, Ordering};

use super::abi::{KernReturn, decode_bsd, decode_bsd_unit};
use super::consts::{kern_return, sys_nr, trap_nr};
use crate::arch::macos as arch;
use crate::errno::{Errno, Result};

/// Result of a Mach trap.
pub type KernResult<T> = core::result::Result<T, KernReturn>;

/// `mmap(addr, len, prot, flags, fd, pos)`.
///
/// With `MAP_ANON`, `fd` is -1 or carries Mach VM flags
/// (`VM_MAKE_TAG(tag) | VM_FLAGS_PURGABLE`, ...; `bsd/kern/kern_mman.c`).
///
/// # Safety
/// With `MAP_FIXED`, whatever is mapped at `[addr, addr + len)` is replaced:
/// no live Rust reference may point there.
#[inline(never)]
pub unsafe fn mmap(
    addr: *mut u8,
    len: usize,
    prot: u32,
    flags: u32,
    fd: i32,
    pos: u64,
) -> Result<NonNull<u8>> {
    // SAFETY: mmap reads no user memory; the caller vouches for MAP_FIXED.
    // The kernel reads `fd` as the low 32 bits of its slot.
    let (x0, carry) = unsafe {
        arch::bsd_syscall6(
            sys_nr::MMAP,
            addr as usize,
            len,
            prot as usize,
            flags as usize,
            fd as isize as usize,
            pos as usize,
        )
    };
    let got = decode_bsd(x0, carry)?;
    // mmap never hands out page 0 (the __PAGEZERO segment covers it).
    NonNull::new(ptr::with_exposed_provenance_mut(got)).ok_or(Errno::FAULT)
}

/// `munmap(addr, len)`.
///
/// # Safety
/// Nothing may use `[addr, addr + len)` afterwards.
#[inline(never)]
pub unsafe fn munmap(addr: *mut u8, len: usize) -> Result<()> {
    // SAFETY: the caller vouches that the range is no longer used.
    let (x0, carry) = unsafe { arch::bsd_syscall2(sys_nr::MUNMAP, addr as usize, len) };
    decode_bsd_unit(x0, carry)
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
/// No live Rust reference may point into a range made less accessible than
/// it needs, and no code may run from a range made non-executable.
#[inline(never)]
pub unsafe fn mprotect(addr: *mut u8, len: usize, prot: u32) -> Result<()> {
    // SAFETY: the caller vouches for references into the range.
    let (x0, carry) =
        unsafe { arch::bsd_syscall3(sys_nr::MPROTECT, addr as usize, len, prot as usize) };
    decode_bsd_unit(x0, carry)
}

/// `madvise(addr, len, advice)`.
///
/// # Safety
/// Advice that may drop contents (`MADV_FREE`, `MADV_FREE_REUSABLE`) needs
/// that no live Rust reference points into the range.
#[inline(never)]
pub unsafe fn madvise(addr: *mut u8, len: usize, advice: u32) -> Result<()> {
    // SAFETY: the caller vouches for references into the range.
    let (x0, carry) =
        unsafe { arch::bsd_syscall3(sys_nr::MADVISE, addr as usize, len, advice as usize) };
    decode_bsd_unit(x0, carry)
}

/// `minherit(addr, len, inherit)`: what a child process gets after fork.
///
/// # Safety
/// `[addr, addr + len)` must be mapped by the caller; the change is
/// invisible to this process.
#[inline(never)]
pub unsafe fn minherit(addr: *mut u8, len: usize, inherit: u32) -> Result<()> {
    // SAFETY: minherit touches no memory contents (caller owns the range).
    let (x0, carry) =
        unsafe { arch::bsd_syscall3(sys_nr::MINHERIT, addr as usize, len, inherit as usize) };
    decode_bsd_unit(x0, carry)
}

/// `__sysctl(name, namelen, old, oldlenp, new, newlen)`.
///
/// # Safety
/// `name` must point to `namelen` ints; `old`/`oldlenp` and `new`/`newlen`
/// must describe valid buffers (or be null), as sysctl(3) says.
#[inline(never)]
pub unsafe fn sysctl(
    name: *const i32,
    namelen: u32,
    old: *mut u8,
    oldlenp: *mut usize,
    new: *const u8,
    newlen: usize,
) -> Result<()> {
    // SAFETY: the caller guarantees every buffer; the kernel writes at most
    // `*oldlenp` bytes to `old` and updates `*oldlenp`.
    let (x0, carry) = unsafe {
        arch::bsd_syscall6(
            sys_nr::SYSCTL,
            name as usize,
            namelen as usize,
            old as usize,
            oldlenp as usize,
            new as usize,
            newlen,
        )
    };
    decode_bsd_unit(x0, carry)
}

/// `sysctlbyname(name, namelen, old, oldlenp, new, newlen)`; `namelen` is
/// the name's length without a NUL (the kernel adds one).
///
/// # Safety
/// `name` must point to `namelen` bytes; the buffers as for [`sysctl`].
#[inline(never)]
pub unsafe fn sysctlbyname(
    name: *const u8,
    namelen: usize,
    old: *mut u8,
    oldlenp: *mut usize,
    new: *const u8,
    newlen: usize,
) -> Result<()> {
    // SAFETY: as for `sysctl`.
    let (x0, carry) = unsafe {
        arch::bsd_syscall6(
            sys_nr::SYSCTLBYNAME,
            name as usize,
            namelen,
            old as usize,
            oldlenp as usize,
            new as usize,
            newlen,
        )
    };
    decode_bsd_unit(x0, carry)
}

/// `__ulock_wait(op, addr, value, timeout_us)`: `timeout_us` 0 waits
/// forever. Returns the number of other waiters left (woken and value
/// mismatch both return success; `bsd/kern/sys_ulock.c`).
///
/// # Safety
/// The kernel reads the word at `addr` atomically: every other access to it
/// must be atomic.
#[inline(never)]
pub unsafe fn ulock_wait(op: u32, addr: *const u8, value: u64, timeout_us: u32) -> Result<u32> {
    // SAFETY: the kernel reads the word atomically (copyin_atomic32/64).
    let (x0, carry) = unsafe {
        arch::bsd_syscall4(
            sys_nr::ULOCK_WAIT,
            op as usize,
            addr as usize,
            value as usize,
            timeout_us as usize,
        )
    };
    decode_bsd(x0, carry).map(|n| n as u32)
}

/// `__ulock_wait2(op, addr, value, timeout_ns, value2)`: `timeout_ns` 0
/// waits forever; otherwise a relative time in nanoseconds.
///
/// # Safety
/// As for [`ulock_wait`].
#[inline(never)]
pub unsafe fn ulock_wait2(
    op: u32,
    addr: *const u8,
    value: u64,
    timeout_ns: u64,
    value2: u64,
) -> Result<u32> {
    // SAFETY: as for `ulock_wait`.
    let (x0, carry) = unsafe {
        arch::bsd_syscall5(
            sys_nr::ULOCK_WAIT2,
            op as usize,
            addr as usize,
            value as usize,
            timeout_ns as usize,
            value2 as usize,
        )
    };
    decode_bsd(x0, carry).map(|n| n as u32)
}

/// `__ulock_wake(op, addr, wake_value)`. `ENOENT`: nobody waited.
///
/// # Safety
/// None beyond a valid `op`: the kernel only hashes `addr`. Kept `unsafe`
/// like its waiting counterpart.
#[inline(never)]
pub unsafe fn ulock_wake(op: u32, addr: *const u8, wake_value: u64) -> Result<()> {
    // SAFETY: ulock_wake reads no user memory.
    let (x0, carry) = unsafe {
        arch::bsd_syscall3(
            sys_nr::ULOCK_WAKE,
            op as usize,
            addr as usize,
            wake_value as usize,
        )
    };
    decode_bsd_unit(x0, carry)
}

/// `__ulock_wait2(op, addr, value, 0, 0)` for an `op` with `ULF_NO_ERRNO`
/// (the unfair lock): waits without a timeout; the result decoded with
/// [`decode_no_errno`](super::lock::decode_no_errno).
///
/// # Safety
/// As for [`ulock_wait`].
#[inline(never)]
pub unsafe fn ulock_wait2_no_errno(op: u32, addr: *const u8, value: u64) -> Result<u32> {
    // SAFETY: as for `ulock_wait`.
    let (x0, carry) = unsafe {
        arch::bsd_syscall5(
            sys_nr::ULOCK_WAIT2,
            op as usize,
            addr as usize,
            value as usize,
            0,
            0,
        )
    };
    super::lock::decode_no_errno(x0, carry)
}

/// `__ulock_wake(op, addr, 0)` for an `op` with `ULF_NO_ERRNO`.
///
/// # Safety
/// As for [`ulock_wake`].
#[inline(never)]
pub unsafe fn ulock_wake_no_errno(op: u32, addr: *const u8) -> Result<u32> {
    // SAFETY: ulock_wake reads no user memory.
    let (x0, carry) =
        unsafe { arch::bsd_syscall3(sys_nr::ULOCK_WAKE, op as usize, addr as usize, 0) };
    super::lock::decode_no_errno(x0, carry)
}

/// `kqueue()`: a new kqueue file descriptor.
#[inline(never)]
pub fn kqueue() -> Result<i32> {
    // SAFETY: kqueue takes no arguments and touches no user memory (the
    // unused argument registers are zero).
    let (x0, carry) = unsafe { arch::bsd_syscall2(sys_nr::KQUEUE, 0, 0) };
    decode_bsd(x0, carry).map(|fd| fd as i32)
}

/// `kevent(kq, changes, nchanges, events, nevents, timeout)`: the number of
/// events written to `events`.
///
/// # Safety
/// `changes` must point to `nchanges` readable `struct kevent`s, `events`
/// to `nevents` writable ones, `timeout` to a `timespec` or be null.
#[inline(never)]
pub unsafe fn kevent(
    kq: i32,
    changes: *const u8,
    nchanges: i32,
    events: *mut u8,
    nevents: i32,
    timeout: *const u8,
) -> Result<u32> {
    // SAFETY: the caller guarantees the buffers.
    let (x0, carry) = unsafe {
        arch::bsd_syscall6(
            sys_nr::KEVENT,
            kq as isize as usize,
            changes as usize,
            nchanges as isize as usize,
            events as usize,
            nevents as isize as usize,
            timeout as usize,
        )
    };
    decode_bsd(x0, carry).map(|n| n as u32)
}

/// `close(fd)`.
///
/// # Safety
/// `fd` must be owned by the caller and not used afterwards.
#[inline(never)]
pub unsafe fn close(fd: i32) -> Result<()> {
    // SAFETY: the caller owns `fd`; close touches no user memory.
    let (x0, carry) = unsafe { arch::bsd_syscall2(sys_nr::CLOSE, fd as isize as usize, 0) };
    decode_bsd_unit(x0, carry)
}

/// `thread_self_trap()`: the calling thread's port name, with one more
/// user reference (drop it with [`mach_port_deallocate`]).
#[inline(never)]
pub fn thread_self_trap() -> u32 {
    // SAFETY: the trap takes no arguments and touches no user memory.
    let x0 = unsafe { arch::mach_trap0(trap_nr::THREAD_SELF) };
    x0 as u32
}

/// `mach_reply_port()`: a new receive right (0 when the IPC space is
/// full). Destroy it with [`mach_port_mod_refs`].
#[inline(never)]
pub fn mach_reply_port() -> u32 {
    // SAFETY: the trap takes no arguments and touches no user memory.
    let x0 = unsafe { arch::mach_trap0(trap_nr::MACH_REPLY_PORT) };
    x0 as u32
}

/// `mach_port_deallocate(task, name)`: drops one user reference of a send
/// right.
#[inline(never)]
pub fn mach_port_deallocate(task: u32, name: u32) -> KernResult<()> {
    // SAFETY: the trap touches no user memory; a wrong name is an error
    // return, not undefined behaviour.
    let x0 =
        unsafe { arch::mach_trap2(trap_nr::MACH_PORT_DEALLOCATE, task as usize, name as usize) };
    KernReturn::check(x0)
}

/// `mach_port_mod_refs(task, name, right, delta)`.
#[inline(never)]
pub fn mach_port_mod_refs(task: u32, name: u32, right: u32, delta: i32) -> KernResult<()> {
    // SAFETY: as for `mach_port_deallocate`.
    let x0 = unsafe {
        arch::mach_trap4(
            trap_nr::MACH_PORT_MOD_REFS,
            task as usize,
            name as usize,
            right as usize,
            delta as u32 as usize,
        )
    };
    KernReturn::check(x0)
}

/// `mach_msg2_trap(...)` with the packed arguments of
/// [`msg2_args`](super::mig::msg2_args); returns the raw
/// `mach_msg_return_t` word for [`after_msg2`](super::mig::after_msg2).
///
/// # Safety
/// `a.data` must point to a message buffer readable for the send size and
/// writable for the receive size; the message's effects (here: VM calls on
/// this task) must be valid.
#[inline(never)]
pub unsafe fn mach_msg2(a: &super::mig::Msg2Args) -> usize {
    // SAFETY: the caller guarantees the buffer and the message.
    unsafe {
        arch::mach_trap8(
            trap_nr::MACH_MSG2,
            a.data as usize,
            a.options as usize,
            a.bits_and_send_size as usize,
            a.remote_and_local as usize,
            a.voucher_and_id as usize,
            a.desc_count_and_rcv_name as usize,
            a.rcv_size_and_priority as usize,
            a.timeout as usize,
        )
    }
}

/// `task_self_trap()`: this task's port name. Each call adds a user
/// reference to the send right, so use [`mach_task_self`].
#[inline(never)]
pub fn task_self_trap() -> u32 {
    // SAFETY: the trap takes no arguments and touches no user memory.
    let x0 = unsafe { arch::mach_trap0(trap_nr::TASK_SELF) };
    x0 as u32
}

/// `mach_absolute_time()` via the `MACH_ARM_TRAP_ABSTIME` fast trap: a
/// monotonic tick count that does not advance while the system sleeps.
#[inline(never)]
pub fn mach_absolute_time() -> u64 {
    // SAFETY: the fast trap only writes x0 (osfmk/arm64/sleh.c).
    let x0 = unsafe { arch::mach_trap0(trap_nr::MACH_ABSOLUTE_TIME) };
    x0 as u64
}

/// `mach_timebase_info_trap(info)`: writes `{ numer, denom }`, the ratio
/// from ticks to nanoseconds.
///
/// # Safety
/// `info` must be valid for writing two `u32`s.
#[inline(never)]
pub unsafe fn mach_timebase_info(info: *mut [u32; 2]) -> KernResult<()> {
    // SAFETY: the caller guarantees `info`; the kernel copies out 8 bytes.
    let x0 = unsafe { arch::mach_trap1(trap_nr::MACH_TIMEBASE_INFO, info as usize) };
    KernReturn::check(x0)
}

/// `mach_vm_allocate(target, *addr, size, flags)`: new zero-filled
/// read-write memory (`VM_FLAGS_*`, with a tag in the top byte).
///
/// # Safety
/// `addr` must be valid for reading and writing a `u64`; with
/// `VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE`, as for [`mmap`] with `MAP_FIXED`.
#[inline(never)]
pub unsafe fn mach_vm_allocate(
    target: u32,
    addr: *mut u64,
    size: u64,
    flags: i32,
) -> KernResult<()> {
    // SAFETY: the caller guarantees `addr` and the flags' effects.
    let x0 = unsafe {
        arch::mach_trap4(
            trap_nr::MACH_VM_ALLOCATE,
            target as usize,
            addr as usize,
            size as usize,
            flags as u32 as usize,
        )
    };
    KernReturn::check(x0)
}

/// `mach_vm_deallocate(target, address, size)`.
///
/// # Safety
/// As for [`munmap`].
#[inline(never)]
pub unsafe fn mach_vm_deallocate(target: u32, address: u64, size: u64) -> KernResult<()> {
    // SAFETY: the caller vouches that the range is no longer used.
    let x0 = unsafe {
        arch::mach_trap3(
            trap_nr::MACH_VM_DEALLOCATE,
            target as usize,
            address as usize,
            size as usize,
        )
    };
    KernReturn::check(x0)
}

/// `mach_vm_protect(target, address, size, set_maximum, new_protection)`.
/// With `set_maximum` the *maximum* protection is lowered, which no BSD call
/// can do: later `mprotect` calls above it fail with `EACCES`.
///
/// # Safety
/// As for [`mprotect`].
#[inline(never)]
pub unsafe fn mach_vm_protect(
    target: u32,
    address: u64,
    size: u64,
    set_maximum: bool,
    new_protection: i32,
) -> KernResult<()> {
    // SAFETY: the caller vouches for references into the range.
    let x0 = unsafe {
        arch::mach_trap5(
            trap_nr::MACH_VM_PROTECT,
            target as usize,
            address as usize,
            size as usize,
            usize::from(set_maximum),
            new_protection as u32 as usize,
        )
    };
    KernReturn::check(x0)
}

/// `mach_vm_map(target, *address, size, mask, flags, cur_protection)`:
/// anonymous memory with flags mmap cannot pass (`VM_FLAGS_RANDOM_ADDR`);
/// the maximum protection is `VM_PROT_ALL`.
///
/// # Safety
/// As for [`mach_vm_allocate`].
#[inline(never)]
pub unsafe fn mach_vm_map(
    target: u32,
    address: *mut u64,
    size: u64,
    mask: u64,
    flags: i32,
    cur_protection: i32,
) -> KernResult<()> {
    // SAFETY: the caller guarantees `address` and the flags' effects.
    let x0 = unsafe {
        arch::mach_trap6(
            trap_nr::MACH_VM_MAP,
            target as usize,
            address as usize,
            size as usize,
            mask as usize,
            flags as u32 as usize,
            cur_protection as u32 as usize,
        )
    };
    KernReturn::check(x0)
}

/// `mach_vm_purgable_control(target, address, control, *state)`. For
/// `VM_PURGABLE_SET_STATE`, `*state` holds the new state on entry and the
/// old one on return.
///
/// # Safety
/// `state` must be valid for reading and writing an `i32`; setting a state
/// that may discard contents needs that nothing relies on them.
#[inline(never)]
pub unsafe fn mach_vm_purgable_control(
    target: u32,
    address: u64,
    control: i32,
    state: *mut i32,
) -> KernResult<()> {
    // SAFETY: the caller guarantees `state`.
    let x0 = unsafe {
        arch::mach_trap4(
            trap_nr::MACH_VM_PURGABLE_CONTROL,
            target as usize,
            address as usize,
            control as u32 as usize,
            state as usize,
        )
    };
    KernReturn::check(x0)
}

/// The cached task port name (0 = not fetched yet; `MACH_PORT_NULL` is
/// never a valid answer).
static TASK_SELF: AtomicU32 = AtomicU32::new(0);

/// This task's port name, fetched once with [`task_self_trap`].
pub fn mach_task_self() -> u32 {
    match TASK_SELF.load(Ordering::Relaxed) {
        0 => refresh_task_self(),
        name => name,
    }
}

fn refresh_task_self() -> u32 {
    let name = task_self_trap();
    TASK_SELF.store(name, Ordering::Relaxed);
    name
}

/// Runs a Mach VM trap on this task, refetching the port name once if the
/// cached one is not (or no longer) this task's: after `fork` the child has
/// a new IPC space, and the kernel answers `MACH_SEND_INVALID_DEST`.
pub fn with_task<T>(mut f: impl FnMut(u32) -> KernResult<T>) -> KernResult<T> {
    match f(mach_task_self()) {
        Err(k) if k.raw() == kern_return::MACH_SEND_INVALID_DEST => f(refresh_task_self()),
        other => other,
    }
}
