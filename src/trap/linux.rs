//! Linux: the fault handler, the signal context of x86_64 and aarch64, the
//! thread pointer, and the system calls behind [`unix::Kernel`] (raw
//! `rt_sigaction` with our own `sa_restorer`, `sigaltstack`, `tgkill`);
//! installing, forwarding and the alternate stacks are `unix.rs`, shared
//! with macOS.
//!
//! Layouts and numbers: Linux `arch/x86/include/uapi/asm/sigcontext.h`,
//! `arch/arm64/include/uapi/asm/{ucontext,sigcontext}.h`,
//! `include/uapi/asm-generic/siginfo.h` (see also the project's
//! `traps-abi.md`); system-call numbers and flags from `linux-raw-sys`.
//!
//! Signals hooked: SIGSEGV and SIGBUS on both ISAs, SIGFPE on x86_64 (where
//! `idiv` raises `#DE`; aarch64 integer division never traps). Flags:
//! `SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTORER` (NODEFER as wasmtime
//! does, so a previous handler we forward to sees the signal unblocked, as
//! it would have without us).
//!
//! MTE: a synchronous tag-check fault (`SEGV_MTESERR`) carries the address
//! and is a trap like a guard-page fault. An asynchronous one
//! (`SEGV_MTEAERR`) is reported at the next kernel entry with `si_addr` 0
//! and a PC that is not the faulting access: it cannot be attributed to a
//! memory or even to the code that made it, so it is never a trap (it goes
//! to the previous handler or kills the process).
//!
//! # How a trap leaves the handler
//! A trap resumes its `wrt_call` frame at `wrt_trap_resume` (stack pointer
//! = the frame, the code in the return register). On aarch64 the handler
//! rewrites the interrupted context that way (PSTATE.BTYPE cleared) and
//! returns through `rt_sigreturn`: the kernel restores the signal mask, the
//! alternate-stack state and the FP/SIMD state (and SVE/SME, TPIDR2, ...)
//! of the interrupted code in one system call.
//!
//! On x86_64 that `rt_sigreturn` is the expensive part of a trap after
//! the fault itself: it validates the frame, reloads the XSAVE image the
//! kernel wrote at delivery (up to 2.7 KiB with AVX-512) and returns
//! through `iret`. Measured with `benches/trap.rs` (README, "Performance";
//! four runs): a bare handler that rewrites the context and returns took
//! 1.04-1.28x the time of the `sigaction` + `siglongjmp` peer, ours, which
//! jumps, 0.67-0.85x, and our classification is below the noise. So the
//! x86_64 handler jumps to the frame itself (`wrt_trap_leave` in
//! `trap.s`), when the jump leaves the thread as `rt_sigreturn` would in
//! everything the ABI and the C API promise (`ctx::end` checks each
//! condition; otherwise it rewrites the context and returns as on
//! aarch64):
//! * **Signal mask**: the kernel ran our handler with the interrupted
//!   code's mask unchanged, since our action has `SA_NODEFER` and an empty
//!   `sa_mask` (Linux `signal_delivered` adds only those), so no
//!   `rt_sigprocmask` is needed, unlike `siglongjmp`. That holds only when
//!   the kernel called us for our own action: the handler's return address
//!   is then our `wrt_trap_restorer`, which no other action names (a libc's
//!   `sigaction` always installs its own restorer). A handler installed
//!   after ours that calls ours (sanitizers and runtimes chain so) may run
//!   with signals blocked that only its own `rt_sigreturn` unblocks: then
//!   the context is rewritten and the chain returns.
//! * **Alternate stack**: the kernel derives "on the alternate stack" from
//!   the stack pointer (`on_sig_stack`), so a jump to the frame, on the
//!   stack `wrt_call` ran on, leaves it as `rt_sigreturn` would; except
//!   with `SS_AUTODISARM`, where delivery disarmed the stack and only
//!   `rt_sigreturn` (`restore_altstack` from `uc_stack`) arms it again: with
//!   that flag in `uc_stack.ss_flags` the context is rewritten.
//! * **FP state**: of it the SysV ABI makes only MXCSR's control bits and
//!   the x87 control word callee-saved; the kernel reset both for the
//!   handler, and `wrt_trap_leave` loads the interrupted code's from the
//!   frame's FXSAVE area. All vector registers are caller-saved.
//! * **Protection keys**: the kernel gives the handler the default PKRU and
//!   only `rt_sigreturn` restores the interrupted one, so where the OS
//!   enabled them (CPUID `OSPKE`) the context is always rewritten (not
//!   exercised here: this machine has no PKU).
//! * **Registers and flags**: `wrt_call`'s epilogue reloads the
//!   callee-saved registers from the frame; the direction flag is clear
//!   (the kernel clears it for the handler).
//! * **No helper frame crossed**: a fault at a pc in the helper's own code
//!   is never a trap (`super::in_helper`); the frames the jump drops are
//!   the kernel's signal frame and our handler's, which hold no lock.
//! * Shadow stacks (CET) are supported by neither exit.

use core::ffi::c_void;
use core::ptr;

use linux_raw_sys::general::{
    __NR_getpid, __NR_gettid, __NR_rt_sigaction, __NR_sigaltstack, __NR_tgkill, SA_NODEFER,
    SA_ONSTACK, SA_RESTORER, SA_SIGINFO, SEGV_ACCERR, SEGV_MAPERR, SIGBUS, SIGSEGV, SS_DISABLE,
    SS_ONSTACK,
};

use super::unix::{self, Kernel, SIG_DFL};
use super::{Fault, FaultKind, Frame};
use crate::arch::linux as sys;
use crate::os::linux::LinuxPages;

pub(crate) use super::unix::{AltStack, init, initialized, thread_fini, thread_init};

/// The kernel's `struct sigaction` (both ISAs; linux-raw-sys
/// `kernel_sigaction`): handler @0, flags @8, restorer @16, mask @24.
#[repr(C)]
#[derive(Copy, Clone)]
pub(crate) struct KSigaction {
    handler: usize,
    flags: u64,
    restorer: usize,
    mask: u64,
}

const _: () = {
    assert!(core::mem::offset_of!(KSigaction, restorer) == 16);
    assert!(core::mem::size_of::<KSigaction>() == 32);
};

/// The kernel's `stack_t`: ss_sp @0, ss_flags @8, ss_size @16.
#[repr(C)]
#[derive(Copy, Clone)]
pub(crate) struct StackT {
    sp: usize,
    flags: i32,
    size: usize,
}

const _: () = assert!(core::mem::offset_of!(StackT, size) == 16);

/// `rt_sigaction`'s `sigsetsize`: the kernel's sigset is 64 bits.
const SIGSET_SIZE: usize = 8;
/// `SEGV_MTESERR` (synchronous MTE tag-check fault).
#[cfg(target_arch = "aarch64")]
const SEGV_MTESERR: i32 = linux_raw_sys::general::SEGV_MTESERR as i32;

/// The signals we hook.
#[cfg(target_arch = "x86_64")]
const SIGNALS: [i32; 3] = [
    SIGSEGV as i32,
    SIGBUS as i32,
    linux_raw_sys::general::SIGFPE as i32,
];
#[cfg(target_arch = "aarch64")]
const SIGNALS: [i32; 2] = [SIGSEGV as i32, SIGBUS as i32];

unsafe extern "C" {
    /// `trap.s`: `rt_sigreturn`, our `sa_restorer`.
    fn wrt_trap_restorer();
    /// `trap.s`: the `sa_handler` we install on x86_64; it calls
    /// [`wrt_trap_signal`] with its return address added.
    #[cfg(target_arch = "x86_64")]
    fn wrt_trap_handler();
}

/// The `sa_handler` we install.
fn entry() -> usize {
    #[cfg(target_arch = "x86_64")]
    let entry = wrt_trap_handler as *const () as usize;
    #[cfg(target_arch = "aarch64")]
    let entry = handler as *const () as usize;
    entry
}

/// Decodes a raw system-call result: `-4095..=-1` is an error.
fn failed(raw: usize) -> bool {
    raw > usize::MAX - 4095
}

/// `rt_sigaction(sig, new, old)`.
///
/// # Safety
/// `new` and `old` are NULL or valid; `new`'s handler is a valid handler.
unsafe fn sigaction(sig: u32, new: *const KSigaction, old: *mut KSigaction) -> bool {
    // SAFETY: the caller vouches for the pointers; the kernel reads `new`
    // and writes `old` (32 bytes each).
    let raw = unsafe {
        sys::syscall4(
            __NR_rt_sigaction,
            sig as usize,
            new as usize,
            old as usize,
            SIGSET_SIZE,
        )
    };
    !failed(raw)
}

/// The Linux side of [`unix::Kernel`].
pub(crate) struct Sys;

impl Kernel for Sys {
    const SIGNALS: &'static [i32] = &SIGNALS;
    type Action = KSigaction;
    const DEFAULT: KSigaction = KSigaction {
        handler: SIG_DFL,
        flags: 0,
        restorer: 0,
        mask: 0,
    };
    const SS_ONSTACK: i32 = SS_ONSTACK as i32;
    const SS_DISABLE: i32 = SS_DISABLE as i32;
    type Pages = LinuxPages;

    fn prepare() {
        #[cfg(target_arch = "x86_64")]
        {
            tp::choose();
            ctx::prepare();
        }
    }

    fn query(sig: i32, old: &mut KSigaction) -> bool {
        // SAFETY: NULL `new` only queries into `old`.
        unsafe { sigaction(sig as u32, ptr::null(), old) }
    }

    unsafe fn install(sig: i32) -> bool {
        let ours = KSigaction {
            handler: entry(),
            flags: u64::from(SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_RESTORER),
            restorer: wrt_trap_restorer as *const () as usize,
            mask: 0,
        };
        // SAFETY: `ours` names our handler and restorer.
        unsafe { sigaction(sig as u32, &ours, ptr::null_mut()) }
    }

    unsafe fn reinstall(sig: i32, prev: &KSigaction) -> bool {
        // SAFETY: an action the kernel reported, restorer included (caller).
        unsafe { sigaction(sig as u32, prev, ptr::null_mut()) }
    }

    fn handler(action: &KSigaction) -> usize {
        action.handler
    }

    fn siginfo(action: &KSigaction) -> bool {
        action.flags & u64::from(SA_SIGINFO) != 0
    }

    fn resend(sig: i32) {
        // SAFETY: getpid touches no memory.
        let pid = unsafe { sys::syscall0_readonly(__NR_getpid) };
        // SAFETY: gettid touches no memory.
        let tid = unsafe { sys::syscall0_readonly(__NR_gettid) };
        // SAFETY: tgkill touches no memory.
        unsafe { sys::syscall3(__NR_tgkill, pid, tid, sig as usize) };
    }

    unix::stack_t!(StackT);

    unsafe fn sigaltstack(new: *const StackT, old: *mut StackT) -> bool {
        // SAFETY: the caller vouches for both pointers.
        !failed(unsafe { sys::syscall2(__NR_sigaltstack, new as usize, old as usize) })
    }

    fn pages() -> crate::errno::Result<LinuxPages> {
        LinuxPages::new()
    }
}

// ---- the thread pointer ----

#[cfg(target_arch = "x86_64")]
mod tp {
    use core::sync::atomic::{AtomicBool, Ordering};

    /// `ARCH_GET_FS` (Linux `arch/x86/include/uapi/asm/prctl.h`: 0x1003;
    /// linux-raw-sys has only `ARCH_SET_FS`, 0x1002).
    const ARCH_GET_FS: usize = 0x1003;
    const _: () = assert!(linux_raw_sys::general::ARCH_SET_FS == 0x1002);

    /// True when `fs:0` holds the thread pointer (the program has TLS: glibc
    /// and musl store the control block's own address there); false for a
    /// program that never set `fs`, where `fs:0` would be address 0.
    static FS_SELF: AtomicBool = AtomicBool::new(false);

    /// `arch_prctl(ARCH_GET_FS)`: the `fs` base, always right, one system
    /// call.
    fn fs_base_syscall() -> usize {
        let mut base = 0usize;
        // SAFETY: the kernel writes one word to `base`.
        let raw = unsafe {
            crate::arch::linux::syscall2(
                linux_raw_sys::general::__NR_arch_prctl,
                ARCH_GET_FS,
                &raw mut base as usize,
            )
        };
        if super::failed(raw) { 0 } else { base }
    }

    /// Called once by `init`: picks the fast read when the program has TLS.
    pub(super) fn choose() {
        FS_SELF.store(fs_base_syscall() != 0, Ordering::Relaxed);
    }

    /// The calling thread's `fs` base.
    #[inline]
    pub(crate) fn read() -> usize {
        if FS_SELF.load(Ordering::Relaxed) {
            let tp: usize;
            // SAFETY: with TLS set up (checked by `choose`), `fs:0` is the
            // thread control block's self pointer (x86_64 TLS ABI); a load.
            unsafe {
                core::arch::asm!("mov {}, qword ptr fs:[0]", out(reg) tp,
                    options(nostack, readonly, preserves_flags));
            }
            tp
        } else {
            fs_base_syscall()
        }
    }
}

/// The calling thread's thread pointer, read, never written.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn thread_pointer() -> usize {
    tp::read()
}

/// The calling thread's thread pointer (`TPIDR_EL0`), read, never written.
#[cfg(target_arch = "aarch64")]
pub(crate) use super::tpidr_el0 as thread_pointer;

// ---- signal context ----

/// `siginfo_t`: si_signo @0, si_errno @4, si_code @8, si_addr @16.
#[repr(C)]
struct SigInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    addr: usize,
}

#[cfg(target_arch = "x86_64")]
mod ctx {
    //! `ucontext_t`: uc_mcontext @40; `gregs[i]` @ 40 + 8i.
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    use core::sync::atomic::{AtomicBool, Ordering};

    use linux_raw_sys::general::SS_AUTODISARM;

    use super::Frame;

    const GREGS: usize = 40;
    /// `REG_RAX`, `REG_RSP`, `REG_RIP` indices of `gregs`.
    pub(super) const RAX: usize = 13;
    const RSP: usize = 15;
    const RIP: usize = 16;

    /// General register `i` of `gregs`.
    ///
    /// # Safety
    /// `uc` is the kernel's ucontext of this signal.
    pub(super) unsafe fn greg(uc: *mut u8, i: usize) -> usize {
        let at = uc.wrapping_add(GREGS + 8 * i).cast::<usize>();
        // SAFETY: gregs[0..23] lie inside the ucontext (caller).
        unsafe { at.read() }
    }

    /// # Safety
    /// As [`greg`].
    unsafe fn set_greg(uc: *mut u8, i: usize, v: usize) {
        let at = uc.wrapping_add(GREGS + 8 * i).cast::<usize>();
        // SAFETY: as in `greg`; rt_sigreturn reloads the register.
        unsafe { at.write(v) }
    }

    /// (pc, sp) of the interrupted code.
    ///
    /// # Safety
    /// As [`greg`].
    pub(super) unsafe fn pc_sp(uc: *mut u8) -> (usize, usize) {
        // SAFETY: forwarded.
        let pc = unsafe { greg(uc, RIP) };
        // SAFETY: forwarded.
        (pc, unsafe { greg(uc, RSP) })
    }

    /// Makes rt_sigreturn resume at `pc` with `sp` and `code` in eax.
    ///
    /// # Safety
    /// As [`greg`]; `pc`/`sp` must be a valid resume point.
    pub(super) unsafe fn resume(uc: *mut u8, pc: usize, sp: usize, code: i32) {
        // SAFETY: forwarded.
        unsafe { set_greg(uc, RIP, pc) };
        // SAFETY: forwarded.
        unsafe { set_greg(uc, RSP, sp) };
        // SAFETY: forwarded.
        unsafe { set_greg(uc, RAX, code as u32 as usize) };
    }

    /// `uc_stack.ss_flags` (`uc_stack` @16: ss_sp @16, ss_flags @24,
    /// ss_size @32): the thread's alternate-stack flags at delivery.
    const STACK_FLAGS: usize = 24;
    /// `uc_mcontext.fpregs`, after the 23 `gregs`: the interrupted code's
    /// FXSAVE / XSAVE image in the signal frame.
    const FPREGS: usize = GREGS + 8 * 23;
    const _: () = assert!(FPREGS == 224);

    /// Whether the OS enabled protection keys (CR4.PKE, seen as CPUID
    /// leaf 7 ECX bit 4, OSPKE); set once by [`prepare`].
    static PKEYS: AtomicBool = AtomicBool::new(true);

    /// Called once by `init`: whether traps may leave through
    /// [`wrt_trap_leave`] depends on protection keys (see [`end`]).
    pub(super) fn prepare() {
        let ospke = __cpuid(0).eax >= 7 && __cpuid_count(7, 0).ecx & (1 << 4) != 0;
        PKEYS.store(ospke, Ordering::Relaxed);
    }

    unsafe extern "C" {
        /// `trap.s`: the direct exit (restores MXCSR and the x87 control
        /// word from `fx`, then `rsp = frame`, `eax = code`, jumps to
        /// `wrt_trap_resume`).
        fn wrt_trap_leave(frame: *mut Frame, code: i32, fx: *const u8) -> !;
    }

    /// Ends a trap that resumes `frame` with `code`: jumps there directly
    /// (`wrt_trap_leave`) when that leaves the thread as `rt_sigreturn`
    /// would (the module docs say why each condition suffices), otherwise
    /// rewrites the context for `rt_sigreturn` and returns. `caller` is our
    /// handler's return address.
    ///
    /// # Safety
    /// As [`greg`]; `frame` is the thread's unlinked innermost `wrt_call`
    /// frame; called from our handler, whose frames the jump drops.
    pub(super) unsafe fn end(uc: *mut u8, frame: *mut Frame, code: i32, caller: usize) {
        // SAFETY: uc_stack and uc_mcontext.fpregs lie in the ucontext.
        let flags = unsafe { uc.wrapping_add(STACK_FLAGS).cast::<u32>().read() };
        // SAFETY: as above.
        let fx = unsafe { uc.wrapping_add(FPREGS).cast::<*const u8>().read() };
        if caller == super::wrt_trap_restorer as *const () as usize
            && flags & SS_AUTODISARM == 0
            && !PKEYS.load(Ordering::Relaxed)
            && !fx.is_null()
        {
            // SAFETY: `frame` is a valid resume point (caller); `fx` is the
            // kernel's FXSAVE image of the interrupted code, readable.
            unsafe { wrt_trap_leave(frame, code, fx) };
        }
        let pc = super::super::wrt_trap_resume as *const () as usize;
        // SAFETY: forwarded (caller).
        unsafe { resume(uc, pc, frame as usize, code) };
    }
}

#[cfg(target_arch = "aarch64")]
mod ctx {
    //! `ucontext_t`: uc_mcontext @176: fault_address @176, regs[n] @184+8n,
    //! sp @432, pc @440, pstate @448.
    const REGS: usize = 184;
    const SP: usize = 432;
    const PC: usize = 440;
    const PSTATE: usize = 448;
    /// PSTATE.BTYPE (bits 11:10).
    const BTYPE: usize = 0xC00;

    /// The address of the context word at byte offset `at`.
    fn word(uc: *mut u8, at: usize) -> *mut usize {
        uc.wrapping_add(at).cast::<usize>()
    }

    /// (pc, sp) of the interrupted code.
    ///
    /// # Safety
    /// `uc` is the kernel's ucontext of this signal.
    pub(super) unsafe fn pc_sp(uc: *mut u8) -> (usize, usize) {
        // SAFETY: pc and sp lie inside uc_mcontext (caller).
        let pc = unsafe { word(uc, PC).read() };
        // SAFETY: as above.
        (pc, unsafe { word(uc, SP).read() })
    }

    /// Makes rt_sigreturn resume at `pc` with `sp` and `code` in w0, and
    /// clears PSTATE.BTYPE so that the landing pad check passes whatever
    /// branch led to the fault (as Linux's `do_el1_bti` does).
    ///
    /// # Safety
    /// As [`pc_sp`]; `pc`/`sp` must be a valid resume point.
    pub(super) unsafe fn resume(uc: *mut u8, pc: usize, sp: usize, code: i32) {
        // SAFETY: inside uc_mcontext (caller); rt_sigreturn reloads it.
        unsafe { word(uc, PC).write(pc) };
        // SAFETY: as above.
        unsafe { word(uc, SP).write(sp) };
        // SAFETY: as above (x0).
        unsafe { word(uc, REGS).write(code as u32 as usize) };
        // SAFETY: as above.
        let pstate = unsafe { word(uc, PSTATE).read() };
        // SAFETY: as above.
        unsafe { word(uc, PSTATE).write(pstate & !BTYPE) };
    }
}

/// The fault described by a signal, if it is a kind we may turn into a trap.
///
/// # Safety
/// `info` and `uc` are the kernel's for this signal.
unsafe fn fault(sig: u32, info: &SigInfo, uc: *mut u8) -> Option<Fault> {
    // SAFETY: forwarded.
    let (pc, sp) = unsafe { ctx::pc_sp(uc) };
    let code = info.code;
    let kind = match sig {
        SIGSEGV if code == SEGV_MAPERR as i32 || code == SEGV_ACCERR as i32 => FaultKind::Access,
        #[cfg(target_arch = "aarch64")]
        SIGSEGV if code == SEGV_MTESERR => FaultKind::TagCheck,
        // Every kernel-raised SIGBUS (alignment, object errors); only one
        // inside a memory's inaccessible part becomes a trap.
        SIGBUS if code > 0 => FaultKind::Access,
        #[cfg(target_arch = "x86_64")]
        linux_raw_sys::general::SIGFPE if code == linux_raw_sys::general::FPE_INTDIV as i32 => {
            // SAFETY: forwarded.
            match unsafe { x86_divisor(pc, uc) } {
                Some(0) | None => FaultKind::DivideByZero,
                Some(_) => FaultKind::DivideOverflow,
            }
        }
        _ => return None,
    };
    let addr = match kind {
        FaultKind::Access | FaultKind::TagCheck => info.addr,
        FaultKind::DivideByZero | FaultKind::DivideOverflow => 0,
    };
    Some(Fault {
        signal: sig as i32,
        kind,
        addr,
        pc,
        sp,
    })
}

/// The divisor of the `div`/`idiv` at `pc` (which raised `#DE`): zero for a
/// division by zero, non-zero for an overflow (`INT_MIN / -1`; compilers
/// sign- or zero-extend the dividend, so no other quotient overflows).
/// `None` when the instruction is not a `div`/`idiv` this decoder knows
/// (then the trap is reported as a division by zero).
///
/// # Safety
/// `pc` is the faulting instruction and `uc` the signal's context.
#[cfg(target_arch = "x86_64")]
unsafe fn x86_divisor(pc: usize, uc: *mut u8) -> Option<u64> {
    /// x86 register number -> `gregs` index.
    const GREG: [usize; 16] = [13, 14, 12, 11, 15, 10, 9, 8, 0, 1, 2, 3, 4, 5, 6, 7];
    // SAFETY: register reads from the context (caller).
    let reg = |n: u8| unsafe { ctx::greg(uc, GREG[usize::from(n & 15)]) } as u64;
    /// Reads the instruction's bytes in order.
    struct Cursor(*const u8);
    impl Cursor {
        fn byte(&mut self) -> u8 {
            // SAFETY: the instruction at `pc` was just fetched by the CPU,
            // so its bytes (at most 15, all this decoder reads) are readable.
            let b = unsafe { self.0.read() };
            self.0 = self.0.wrapping_add(1);
            b
        }
        fn disp32(&mut self) -> u64 {
            let d = [self.byte(), self.byte(), self.byte(), self.byte()];
            i32::from_le_bytes(d) as i64 as u64
        }
    }
    let mut c = Cursor(pc as *const u8);
    let (mut opsize16, mut rex) = (false, 0u8);
    let mut op = c.byte();
    loop {
        match op {
            0x66 => opsize16 = true,
            0x2e | 0x36 | 0x3e | 0x26 | 0xf0 | 0xf2 | 0xf3 => {}
            // fs/gs segment or address-size override: not decoded.
            0x64 | 0x65 | 0x67 => return None,
            _ => break,
        }
        op = c.byte();
    }
    if op & 0xf0 == 0x40 {
        rex = op;
        op = c.byte();
    }
    let size: u32 = match op {
        0xf6 => 1,
        0xf7 if rex & 8 != 0 => 8,
        0xf7 if opsize16 => 2,
        0xf7 => 4,
        _ => return None,
    };
    let modrm = c.byte();
    let (md, regf, rm) = (modrm >> 6, (modrm >> 3) & 7, modrm & 7);
    if regf != 6 && regf != 7 {
        return None; // not div / idiv
    }
    let b = (rex & 1) << 3;
    let value = if md == 3 {
        if size == 1 && rex == 0 && rm >= 4 {
            reg(rm - 4) >> 8 // ah, ch, dh, bh
        } else {
            reg(rm | b)
        }
    } else {
        let mut ea = if rm == 4 {
            let sib = c.byte();
            let index = ((sib >> 3) & 7) | ((rex & 2) << 2);
            let scaled = if index == 4 {
                0
            } else {
                reg(index) << (sib >> 6)
            };
            let base = if sib & 7 == 5 && md == 0 {
                c.disp32()
            } else {
                reg((sib & 7) | b)
            };
            scaled.wrapping_add(base)
        } else if rm == 5 && md == 0 {
            let d = c.disp32();
            // RIP-relative: from the end of the instruction, which is here
            // (div/idiv have no immediate).
            (c.0 as u64).wrapping_add(d)
        } else {
            reg(rm | b)
        };
        ea = match md {
            1 => ea.wrapping_add(c.byte() as i8 as i64 as u64),
            2 => ea.wrapping_add(c.disp32()),
            _ => ea,
        };
        let at = ea as usize as *const u8;
        // The CPU has just read this operand (the #DE comes after the
        // operand fetch), so it is mapped and readable: the SAFETY of each
        // read below.
        match size {
            // SAFETY: see above.
            1 => u64::from(unsafe { at.read() }),
            // SAFETY: see above.
            2 => u64::from(unsafe { at.cast::<u16>().read_unaligned() }),
            // SAFETY: see above.
            4 => u64::from(unsafe { at.cast::<u32>().read_unaligned() }),
            // SAFETY: see above.
            _ => unsafe { at.cast::<u64>().read_unaligned() },
        }
    };
    Some(match size {
        1 => value & 0xff,
        2 => value & 0xffff,
        4 => value & 0xffff_ffff,
        _ => value,
    })
}

/// The trap a signal is, if it is one: recorded for its `wrt_call`, whose
/// frame is unlinked and returned with the code to resume it with.
/// Otherwise the signal is handed to the action installed before ours
/// ([`unix::forward`]) and `None` is returned.
///
/// # Safety
/// The arguments are the kernel's for this signal (SA_SIGINFO: `info` and
/// `uc` are valid), or a copy a handler that chains to ours passes on.
unsafe fn trap_or_forward(sig: i32, info: *mut SigInfo, uc: *mut u8) -> Option<(*mut Frame, i32)> {
    // SAFETY: a valid siginfo (caller).
    let si = unsafe { &*info };
    if si.code > 0
        // SAFETY: the context for this signal (caller).
        && let Some(f) = unsafe { fault(sig as u32, si, uc) }
        && let Some(trap) = super::take(&f)
    {
        return Some(trap);
    }
    // SAFETY: forwarded (caller).
    unsafe { unix::forward(sig, info.cast(), uc.cast(), si.code > 0) };
    None
}

/// Our handler for every hooked signal on x86_64, entered through
/// `wrt_trap_handler` (`trap.s`, the address we install), which adds its
/// own return address as `caller`: [`ctx::end`] leaves a trap by a direct
/// jump only when the kernel called us for our own action.
///
/// # Safety
/// Called by `wrt_trap_handler` only, with the kernel's arguments.
#[cfg(target_arch = "x86_64")]
#[unsafe(no_mangle)]
unsafe extern "C" fn wrt_trap_signal(sig: i32, info: *mut SigInfo, uc: *mut c_void, caller: usize) {
    let uc = uc.cast::<u8>();
    // SAFETY: forwarded (caller).
    if let Some((frame, code)) = unsafe { trap_or_forward(sig, info, uc) } {
        // SAFETY: the thread's unlinked innermost wrt_call frame; called
        // from our handler.
        unsafe { ctx::end(uc, frame, code, caller) };
    }
}

/// Our handler for every hooked signal on aarch64: a trap rewrites the
/// context and returns through `rt_sigreturn` (see the module docs).
///
/// # Safety
/// Called by the kernel only (SA_SIGINFO: `info` and `uc` are valid).
#[cfg(target_arch = "aarch64")]
unsafe extern "C" fn handler(sig: i32, info: *mut SigInfo, uc: *mut c_void) {
    let uc = uc.cast::<u8>();
    // SAFETY: forwarded (caller).
    if let Some((frame, code)) = unsafe { trap_or_forward(sig, info, uc) } {
        let resume = super::wrt_trap_resume as *const () as usize;
        // SAFETY: `frame` is the thread's unlinked innermost wrt_call
        // frame, a valid resume point for wrt_trap_resume.
        unsafe { ctx::resume(uc, resume, frame as usize, code) };
    }
}
