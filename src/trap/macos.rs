//! macOS arm64: the fault handler on raw BSD `sigaction` (syscall 46) with
//! our own `sa_tramp` (`wrt_trap_tramp` in `asm/aarch64-macho/trap.s`, which
//! ends in `sigreturn`, 184), `sigaltstack` (53), the arm64 `mcontext64`,
//! and the thread pointer (`TPIDRRO_EL0`); installing, forwarding and the
//! alternate stacks are `unix.rs`, shared with Linux ([`unix::Kernel`]).
//!
//! **Built and checked; not executed** (no Mac runs here):
//! `cargo clippy --target aarch64-apple-darwin`, the layouts and decisions
//! in `src/os/macos/signal.rs` under the host's unit tests, and
//! `scripts/check-macos` (the `svc #0x80` of each call here and of the
//! trampoline, with its x16 number; no libSystem symbol).
//!
//! Signals hooked: SIGSEGV and SIGBUS (XNU raises SIGBUS for a `PROT_NONE`
//! guard, SIGSEGV for unmapped addresses and the main thread's stack guard;
//! aarch64 integer division never traps). Flags: `SA_SIGINFO | SA_ONSTACK |
//! SA_NODEFER`, plus `SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP` as libplatform
//! sets it (our trampoline hands the kernel's token back unchanged).
//!
//! Differences from Linux (`linux.rs`):
//! * `si_code` of SIGSEGV/SIGBUS is hard-coded by `sendsig`, sent or raised,
//!   so "raised by the CPU" is decided from the saved ESR and FAR as well
//!   ([`signal::data_abort`]).
//! * The previous action is read back without its trampoline (the kernel
//!   does not report `sa_tramp`): reinstalling it uses ours, which calls the
//!   handler with three arguments and `sigreturn`s as Apple's `_sigtramp`.
//! * A signal that is not a data abort and goes to `SIG_DFL` is sent again
//!   with `kill(getpid(), sig)` after the default is reinstalled (a sent one
//!   would otherwise be lost; a raised one dies either way of the same
//!   signal). macOS has no thread-directed `tgkill` system call that takes
//!   a thread id without a Mach port (`__pthread_kill` takes the port).
//! * arm64e (pointer-authenticated thread state) is refused: a context whose
//!   pc the kernel signed is never redirected (it goes to the previous
//!   action). The helper is built for the arm64 slice.

use core::ffi::c_void;
use core::ptr;

use super::unix::{self, Kernel};
use super::{Fault, FaultKind};
use crate::arch::macos as arch;
use crate::os::macos::MacOsPages;
use crate::os::macos::abi::decode_bsd_unit;
use crate::os::macos::consts::signal::{
    SA_NODEFER, SA_ONSTACK, SA_SIGINFO, SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP, SIG_DFL, SIG_IGN,
    SIGBUS, SIGSEGV, SS_DISABLE, SS_ONSTACK, SYS_GETPID, SYS_KILL, SYS_SIGACTION, SYS_SIGALTSTACK,
};
use crate::os::macos::signal::{
    self, KSigactionIn, KSigactionOut, MContext64, SigInfo, StackT, UContext,
};

pub(crate) use super::unix::{AltStack, init, initialized, thread_fini, thread_init};

/// The signals we hook.
const SIGNALS: [i32; 2] = [SIGSEGV, SIGBUS];

// The shared code's handler values are XNU's.
const _: () = assert!(SIG_DFL == unix::SIG_DFL && SIG_IGN == unix::SIG_IGN);

unsafe extern "C" {
    /// `trap.s`: our `sa_tramp` (handler call, then `sigreturn`).
    fn wrt_trap_tramp();
}

// ---- system calls (one `#[inline(never)]` function each: the functions
// `scripts/check-macos` disassembles) ----

/// `sigaction(sig, new, old)` (BSD 46). True on success.
///
/// # Safety
/// `new` and `old` are NULL or valid; `new`'s handler and trampoline are
/// valid code (or `SIG_DFL` / `SIG_IGN`).
#[inline(never)]
unsafe fn sigaction(sig: i32, new: *const KSigactionIn, old: *mut KSigactionOut) -> bool {
    // SAFETY: the caller vouches for the pointers; the kernel reads 24
    // bytes at `new` and writes 16 at `old`.
    let (x0, carry) =
        unsafe { arch::bsd_syscall3(SYS_SIGACTION, sig as usize, new as usize, old as usize) };
    decode_bsd_unit(x0, carry).is_ok()
}

/// `sigaltstack(new, old)` (BSD 53). True on success.
///
/// # Safety
/// `new`, `old` NULL or valid; `new` describes memory usable as a stack.
#[inline(never)]
unsafe fn sigaltstack(new: *const StackT, old: *mut StackT) -> bool {
    // SAFETY: the caller vouches for both pointers (24 bytes each).
    let (x0, carry) = unsafe { arch::bsd_syscall2(SYS_SIGALTSTACK, new as usize, old as usize) };
    decode_bsd_unit(x0, carry).is_ok()
}

/// `getpid()` (BSD 20).
#[inline(never)]
fn getpid() -> usize {
    // SAFETY: getpid touches no memory.
    unsafe { arch::bsd_syscall2(SYS_GETPID, 0, 0) }.0
}

/// `kill(pid, sig, posix = 1)` (BSD 37).
#[inline(never)]
fn kill(pid: usize, sig: i32) {
    // SAFETY: kill touches no memory.
    let _ = unsafe { arch::bsd_syscall3(SYS_KILL, pid, sig as usize, 1) };
}

/// The macOS side of [`unix::Kernel`].
pub(crate) struct Sys;

impl Kernel for Sys {
    const SIGNALS: &'static [i32] = &SIGNALS;
    type Action = KSigactionOut;
    const DEFAULT: KSigactionOut = KSigactionOut {
        handler: SIG_DFL,
        mask: 0,
        flags: 0,
    };
    const SS_ONSTACK: i32 = SS_ONSTACK;
    const SS_DISABLE: i32 = SS_DISABLE;
    type Pages = MacOsPages;

    fn prepare() {}

    fn query(sig: i32, old: &mut KSigactionOut) -> bool {
        // SAFETY: NULL `new` only queries into `old`.
        unsafe { sigaction(sig, ptr::null(), old) }
    }

    unsafe fn install(sig: i32) -> bool {
        let ours = KSigactionIn {
            handler: handler as *const () as usize,
            tramp: wrt_trap_tramp as *const () as usize,
            mask: 0,
            flags: SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP,
        };
        // SAFETY: `ours` names our handler and trampoline.
        unsafe { sigaction(sig, &ours, ptr::null_mut()) }
    }

    unsafe fn reinstall(sig: i32, prev: &KSigactionOut) -> bool {
        // The kernel does not report the previous trampoline: ours, which
        // calls the handler with three arguments and `sigreturn`s as
        // Apple's `_sigtramp` does.
        let again = KSigactionIn {
            handler: prev.handler,
            tramp: wrt_trap_tramp as *const () as usize,
            mask: prev.mask,
            flags: prev.flags,
        };
        // SAFETY: the action read back (caller), with our trampoline.
        unsafe { sigaction(sig, &again, ptr::null_mut()) }
    }

    fn handler(action: &KSigactionOut) -> usize {
        action.handler
    }

    fn siginfo(action: &KSigactionOut) -> bool {
        action.flags & SA_SIGINFO != 0
    }

    fn resend(sig: i32) {
        kill(getpid(), sig);
    }

    unix::stack_t!(StackT);

    unsafe fn sigaltstack(new: *const StackT, old: *mut StackT) -> bool {
        // SAFETY: forwarded (caller).
        unsafe { sigaltstack(new, old) }
    }

    fn pages() -> crate::errno::Result<MacOsPages> {
        MacOsPages::new()
    }
}

/// The calling thread's key for the thread table: the TSD base in
/// `TPIDRRO_EL0` (per thread, set by the kernel, read-only at EL0; XNU
/// keeps `TPIDR_EL0` for its own use), read, never written.
#[inline]
pub(crate) fn thread_pointer() -> usize {
    let tp: usize;
    // SAFETY: reading TPIDRRO_EL0 is allowed at EL0 and has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, tpidrro_el0", out(reg) tp,
            options(nomem, nostack, preserves_flags));
    }
    signal::tsd_base(tp)
}

/// The fault described by a signal, if it is a kind we may turn into a trap.
fn fault(sig: i32, info: &SigInfo, mc: &MContext64) -> Option<Fault> {
    let addr = signal::data_abort(sig, info.code, info.addr, mc.far, mc.esr)?;
    Some(Fault {
        signal: sig,
        kind: FaultKind::Access,
        addr,
        pc: mc.pc as usize,
        sp: mc.sp as usize,
    })
}

/// Our handler for every hooked signal (called by `wrt_trap_tramp`).
///
/// # Safety
/// Called by the trampoline only, with the kernel's `info` and `uc`.
unsafe extern "C" fn handler(sig: i32, info: *mut SigInfo, uc: *mut c_void) {
    // SAFETY: the kernel passes a valid siginfo.
    let si = unsafe { &*info };
    // SAFETY: and a valid ucontext (sendsig).
    let ucx = unsafe { &*uc.cast::<UContext>() };
    // SAFETY: uc_mcontext points at the frame's mcontext64 (sendsig).
    let mc = unsafe { &mut *ucx.mcontext };
    if signal::redirectable(mc.flags)
        && let Some(f) = fault(sig, si, mc)
        && let Some((frame, code)) = super::take(&f)
    {
        let resume = super::wrt_trap_resume as *const () as usize;
        signal::redirect(mc, resume, frame as usize, code);
        return;
    }
    let raised = fault(sig, si, mc).is_some();
    // SAFETY: forwarded from the kernel.
    unsafe { unix::forward(sig, info.cast(), uc, raised) };
}
