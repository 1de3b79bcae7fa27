//! aarch64 with no hosted OS (`target_os = "none"`): the instructions the
//! bare-metal EL1 backend (`os::baremetal`) and the Zephyr backend
//! (`os::zephyr`) execute directly.
//!
//! | function | instructions | used by |
//! |---|---|---|
//! | `monitor_wait` | `sevl; wfe; ldaxr; cbnz; wfe` | bare-metal futex wait |
//! | `monitor_wait_until` | the same ending in `wfet` (FEAT_WFxT) | bare-metal futex wait with a deadline |
//! | `send_event` | `dsb ish; sev` | bare-metal futex wake |
//! | `counter`, `frequency` | `isb; mrs CNTVCT_EL0`, `mrs CNTFRQ_EL0` | deadlines |
//! | `id_aa64isar2` | `mrs ID_AA64ISAR2_EL1` | FEAT_WFxT check |
//! | `cntkctl`, `set_cntkctl` | `mrs`/`msr CNTKCTL_EL1` | the timer event stream (EL1) |
//! | `irq_save`, `irq_restore` | `mrs daif; msr daifset, #3` / `msr daif` | the futex bucket lock (EL1) |
//! | `tpidrro_el0` | `mrs TPIDRRO_EL0` | Zephyr: user or supervisor thread |
//! | `zephyr_syscall0`, `zephyr_syscall2`, `zephyr_syscall3` | `svc #3`, id in `x8` | Zephyr user-mode system calls |
//!
//! The wait loop is Linux's `__cmpwait` (`arch/arm64/include/asm/cmpxchg.h`):
//! `sevl; wfe` empties the event register, `ldaxr` arms the exclusive
//! monitor on the word and reads it, and the final `wfe` sleeps only if the
//! word still reads as "not yet". Any write to the word by another observer
//! clears the monitor, which is a wake-up event, so a write that lands after
//! the `ldaxr` ends the `wfe`; a write before it is seen by the `ldaxr`.
//! Interrupts, `sev` from any core and the timer event stream also end it:
//! spurious returns are normal and the caller re-checks.
//!
//! The bare-metal functions are compiled for `wrt_os = "baremetal"`, the
//! Zephyr ones for `wrt_os = "zephyr"`. None of them is exported: they are `#[inline]` Rust functions
//! around one `asm!` block each (there is no `bti c` to place; Rust emits
//! the landing pads its own functions need).

use core::arch::asm;
#[cfg(wrt_os = "baremetal")]
use core::sync::atomic::AtomicU32;

/// `uint32_t monitor_wait(const uint32_t *flag)`: reads `*flag` with
/// acquire semantics through the exclusive monitor and, if it reads 0,
/// waits for an event (`wfe`). Returns the value read.
///
/// Registers: `p` = `flag` (in), `v` = the value (out). Clobbers: the event
/// register and the local exclusive monitor (left armed on `flag`, as Linux
/// leaves it). Flags are not touched (`cbnz`).
///
/// Ends on a write to `flag` by another observer, `sev` from any core, an
/// unmasked interrupt, or the timer event stream (`CNTKCTL_EL1.EVNTEN`);
/// may end for no visible reason at all.
#[cfg(wrt_os = "baremetal")]
#[inline]
pub(crate) fn monitor_wait(flag: &AtomicU32) -> u32 {
    let v: u32;
    // SAFETY: `flag` is a valid, aligned `AtomicU32` for the whole call; the
    // block reads it with an atomic load-acquire-exclusive (no write), and
    // `sevl`/`wfe` change only the event register.
    unsafe {
        asm!(
            "sevl",                 // set the local event register ...
            "wfe",                  // ... and consume it: the next wfe can sleep
            "ldaxr {v:w}, [{p}]",   // arm the monitor on the flag, read it (acquire)
            "cbnz {v:w}, 2f",       // already set: do not sleep
            "wfe",                  // sleep until an event (monitor cleared by a write, sev, irq, ...)
            "2:",
            p = in(reg) flag.as_ptr(),
            v = out(reg) v,
            options(nostack, preserves_flags),
        );
    }
    v
}

/// `uint32_t monitor_wait_until(const uint32_t *flag, uint64_t deadline)`:
/// `monitor_wait` ending in `wfet`, which also returns once `CNTVCT_EL0`
/// reaches `deadline` (FEAT_WFxT).
///
/// Registers: `p` = `flag`, `d` = `deadline` in `CNTVCT_EL0` ticks (in),
/// `v` = the value (out). Clobbers: as `monitor_wait`.
///
/// # Safety
/// The CPU implements FEAT_WFxT (`ID_AA64ISAR2_EL1.WFxT` = 2): on others
/// the `wfet` encoding is UNDEFINED.
#[cfg(wrt_os = "baremetal")]
#[inline]
pub(crate) unsafe fn monitor_wait_until(flag: &AtomicU32, deadline: u64) -> u32 {
    let v: u32;
    // SAFETY: as in `monitor_wait`; the caller guarantees `wfet` exists.
    unsafe {
        asm!(
            ".arch_extension wfxt",
            "sevl",
            "wfe",
            "ldaxr {v:w}, [{p}]",
            "cbnz {v:w}, 2f",
            "wfet {d}",             // sleep until an event or CNTVCT_EL0 >= d
            "2:",
            p = in(reg) flag.as_ptr(),
            d = in(reg) deadline,
            v = out(reg) v,
            options(nostack, preserves_flags),
        );
    }
    v
}

/// `void send_event(void)`: `dsb ish; sev`. The barrier makes every store
/// before it (the waker's store-release to a waiter's flag) visible to the
/// inner-shareable domain before the event reaches the other cores.
///
/// Registers: none. Clobbers: the event registers of all cores.
#[cfg(wrt_os = "baremetal")]
#[inline]
pub(crate) fn send_event() {
    // SAFETY: a barrier and an event; no memory is accessed.
    unsafe {
        asm!("dsb ish", "sev", options(nostack, preserves_flags));
    }
}

/// `uint64_t id_aa64isar2(void)`: `ID_AA64ISAR2_EL1` (bits 3:0 = WFxT).
/// Written by its generic encoding (`S3_0_C0_C6_2`) so older assemblers
/// accept it; the register reads as zero on cores that predate it (it is
/// in the ID space, which is RAZ where unallocated). EL1 and above.
#[cfg(wrt_os = "baremetal")]
#[inline]
pub(crate) fn id_aa64isar2() -> u64 {
    let v: u64;
    // SAFETY: reads an ID register; no memory access.
    unsafe {
        asm!("mrs {}, S3_0_C0_C6_2", out(reg) v, options(nomem, nostack, preserves_flags));
    }
    v
}

/// `uint64_t cntkctl(void)`: `CNTKCTL_EL1` (event stream: EVNTEN bit 2,
/// EVNTDIR bit 3, EVNTI bits 7:4). EL1 and above.
#[cfg(wrt_os = "baremetal")]
#[inline]
pub(crate) fn cntkctl() -> u64 {
    let v: u64;
    // SAFETY: reads a system register; no memory access.
    unsafe {
        asm!("mrs {}, cntkctl_el1", out(reg) v, options(nomem, nostack, preserves_flags));
    }
    v
}

/// `void set_cntkctl(uint64_t v)`: writes `CNTKCTL_EL1` of this core, then
/// `isb` so the new event-stream setting takes effect before the next wait.
///
/// # Safety
/// Runs at EL1. The caller keeps the bits it does not mean to change (EL0
/// counter and timer access), which other software on the core may rely on.
#[cfg(wrt_os = "baremetal")]
#[inline]
pub(crate) unsafe fn set_cntkctl(v: u64) {
    // SAFETY: writes a per-core control register (the caller vouches for
    // its value); no memory access.
    unsafe {
        asm!(
            "msr cntkctl_el1, {}",
            "isb",
            in(reg) v,
            options(nomem, nostack, preserves_flags)
        );
    }
}

/// `uint64_t irq_save(void)`: returns `DAIF` and masks IRQ and FIQ on this
/// core (`msr daifset, #3`).
///
/// Registers: out only. Not `nomem`: the mask is a compiler barrier, so no
/// access of the critical section that follows moves above it.
///
/// # Safety
/// Runs at EL1 (at EL0 `DAIF` is only accessible with `SCTLR_EL1.UMA`).
/// Pair with `irq_restore` of the returned value on the same core.
#[cfg(wrt_os = "baremetal")]
#[inline]
pub(crate) unsafe fn irq_save() -> u64 {
    let daif: u64;
    // SAFETY: reads DAIF and sets two mask bits; no memory access.
    unsafe {
        asm!(
            "mrs {}, daif",
            "msr daifset, #3",
            out(reg) daif,
            options(nostack, preserves_flags)
        );
    }
    daif
}

/// `void irq_restore(uint64_t daif)`: writes back a `DAIF` value saved by
/// `irq_save` (a compiler barrier, like `irq_save`).
///
/// # Safety
/// `daif` comes from `irq_save` on this core, at EL1.
#[cfg(wrt_os = "baremetal")]
#[inline]
pub(crate) unsafe fn irq_restore(daif: u64) {
    // SAFETY: restores the mask bits the caller saved; no memory access.
    unsafe {
        asm!("msr daif, {}", in(reg) daif, options(nostack, preserves_flags));
    }
}

/// `uint64_t tpidrro_el0(void)`: the read-only thread register. Zephyr
/// arm64 keeps its `TPIDRROEL0_IN_EL0` bit (bit 0) there, set while a user
/// thread runs (`include/zephyr/arch/arm64/tpidrro_el0.h`,
/// `arch_is_user_context()` in `include/zephyr/arch/arm64/syscall.h`).
#[cfg(wrt_os = "zephyr")]
#[inline]
pub(crate) fn tpidrro_el0() -> u64 {
    let v: u64;
    // SAFETY: reads a system register readable at EL0 and EL1.
    unsafe {
        asm!("mrs {}, tpidrro_el0", out(reg) v, options(nomem, nostack, preserves_flags));
    }
    v
}

/// `uintptr_t zephyr_syscall0(uintptr_t id)`: a Zephyr arm64 user-mode
/// system call with no argument (`arch_syscall_invoke0`).
///
/// Register map: `x8` = call id (in, clobbered), `x0` = result (out);
/// `svc #3` (`_SVC_CALL_SYSTEM_CALL`). Clobbers: `x0`, `x8`, flags (not
/// assumed preserved); the kernel restores every other register
/// (`z_arm64_do_syscall`). A 64-bit result (`k_uptime_ticks`' `int64_t`)
/// comes back whole in `x0` on arm64 (`gen_syscalls.py` splits it only
/// where a register is narrower).
///
/// # Safety
/// As for `zephyr_syscall2`.
#[cfg(wrt_os = "zephyr")]
#[inline]
pub(crate) unsafe fn zephyr_syscall0(id: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call and its memory effects.
    unsafe {
        asm!(
            "svc #3",
            lateout("x0") r,
            inlateout("x8") id => _,
            options(nostack)
        );
    }
    r
}

/// `uintptr_t zephyr_syscall2(uintptr_t a0, uintptr_t a1, uintptr_t id)`:
/// a Zephyr arm64 user-mode system call with two marshalled words.
///
/// Convention (`include/zephyr/arch/arm64/syscall.h`,
/// `arch_syscall_invoke2`; `arch/arm64/core/userspace.S`,
/// `z_arm64_do_syscall`): `svc #3` (`_SVC_CALL_SYSTEM_CALL`), `x8` = call
/// id, `x0`/`x1` = arguments, `x0` = result. Zephyr's own wrapper treats
/// only `x0` as written; this one also lets `x1` and `x8` be clobbered,
/// which costs nothing and does not depend on the kernel restoring them.
/// Flags are not assumed preserved.
///
/// # Safety
/// Called from a Zephyr user thread (at EL0); `id` comes from this image's
/// `syscall_list.h`, and the arguments are valid for that call (pointers
/// writable by the thread, as the kernel's `K_SYSCALL_MEMORY_WRITE` checks).
#[cfg(wrt_os = "zephyr")]
#[inline]
pub(crate) unsafe fn zephyr_syscall2(a0: usize, a1: usize, id: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call and its memory effects.
    unsafe {
        asm!(
            "svc #3",
            inlateout("x0") a0 => r,
            inlateout("x1") a1 => _,
            inlateout("x8") id => _,
            options(nostack)
        );
    }
    r
}

/// `uintptr_t zephyr_syscall3(uintptr_t a0, uintptr_t a1, uintptr_t a2,
/// uintptr_t id)`: as `zephyr_syscall2` with a third word in `x2`
/// (`arch_syscall_invoke3`).
///
/// # Safety
/// As for `zephyr_syscall2`.
#[cfg(wrt_os = "zephyr")]
#[inline]
pub(crate) unsafe fn zephyr_syscall3(a0: usize, a1: usize, a2: usize, id: usize) -> usize {
    let r: usize;
    // SAFETY: the caller vouches for the call and its memory effects.
    unsafe {
        asm!(
            "svc #3",
            inlateout("x0") a0 => r,
            inlateout("x1") a1 => _,
            inlateout("x2") a2 => _,
            inlateout("x8") id => _,
            options(nostack)
        );
    }
    r
}
