//! macOS arm64: the fault handlers on raw BSD `sigaction` (syscall 46) with
//! our own `sa_tramp` (`wrt_trap_tramp` in `asm/aarch64-macho/trap.s`, which
//! ends in `sigreturn`, 184), alternate signal stacks (`sigaltstack`, 53),
//! the arm64 `mcontext64`, and the thread pointer (`TPIDRRO_EL0`).
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

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use super::{Fault, FaultKind};
use crate::arch::macos as arch;
use crate::capi::{WRT_E_INVALID, WRT_E_OS, WRT_E_OUT_OF_MEMORY, WRT_E_TOO_MANY, WRT_OK};
use crate::os::macos::MacOsPages;
use crate::os::macos::abi::decode_bsd_unit;
use crate::os::macos::consts::signal::{
    SA_NODEFER, SA_ONSTACK, SA_SIGINFO, SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP, SIG_DFL, SIG_IGN,
    SIGBUS, SIGSEGV, SS_DISABLE, SS_ONSTACK, SYS_GETPID, SYS_KILL, SYS_SIGACTION, SYS_SIGALTSTACK,
};
use crate::os::macos::signal::{
    self, KSigactionIn, KSigactionOut, MContext64, SigInfo, StackT, UContext,
};
use crate::page::{PageAllocator, Reservation, ReserveOptions};

/// The signals we hook.
const SIGNALS: [i32; 2] = [SIGSEGV, SIGBUS];

/// The actions installed before ours, one per entry of [`SIGNALS`]; written
/// once by [`init`] before our handler is installed, read-only afterwards.
struct Previous(UnsafeCell<[KSigactionOut; SIGNALS.len()]>);
// SAFETY: written only by `init` while it holds `STATE` at BUSY and before
// any of our handlers is installed; read-only from then on.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(UnsafeCell::new(
    [KSigactionOut {
        handler: SIG_DFL,
        mask: 0,
        flags: 0,
    }; SIGNALS.len()],
));

const UNINIT: u32 = 0;
const BUSY: u32 = 1;
const READY: u32 = 2;
/// `wrt_trap_init`'s progress.
static STATE: AtomicU32 = AtomicU32::new(UNINIT);

unsafe extern "C" {
    /// `trap.s`: our `sa_tramp` (handler call, then `sigreturn`).
    fn wrt_trap_tramp();
}

/// Whether the handlers are installed.
pub(crate) fn initialized() -> bool {
    STATE.load(Ordering::Acquire) == READY
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

/// `kill(getpid(), sig)`.
fn raise_again(sig: i32) {
    kill(getpid(), sig);
}

/// Installs the fault handlers once per process (idempotent, thread-safe:
/// a concurrent caller waits for the first). Returns `WRT_OK` or `WRT_E_OS`
/// (nothing is installed then).
pub(crate) fn init() -> i32 {
    loop {
        match STATE.compare_exchange(UNINIT, BUSY, Ordering::Acquire, Ordering::Acquire) {
            Ok(_) => break,
            Err(READY) => return WRT_OK as i32,
            Err(_) => core::hint::spin_loop(),
        }
    }
    let ours = KSigactionIn {
        handler: handler as *const () as usize,
        tramp: wrt_trap_tramp as *const () as usize,
        mask: 0,
        flags: SA_SIGINFO | SA_ONSTACK | SA_NODEFER | SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP,
    };
    let previous = PREVIOUS.0.get().cast::<KSigactionOut>();
    // Read every previous action first, then install: a fault racing the
    // install must find its previous action already recorded.
    for (i, &sig) in SIGNALS.iter().enumerate() {
        // SAFETY: `previous[i]` is ours to write (STATE is BUSY, no handler
        // of ours installed yet); NULL `new` only queries.
        if !unsafe { sigaction(sig, ptr::null(), previous.wrapping_add(i)) } {
            STATE.store(UNINIT, Ordering::Release);
            return WRT_E_OS as i32;
        }
    }
    for (i, &sig) in SIGNALS.iter().enumerate() {
        // SAFETY: `ours` names our handler and trampoline.
        if !unsafe { sigaction(sig, &ours, ptr::null_mut()) } {
            for (j, &undo) in SIGNALS.iter().enumerate().take(i) {
                // SAFETY: `previous[j]` was written above.
                let prev = unsafe { *previous.wrapping_add(j) };
                // SAFETY: restores the action read above (with our
                // trampoline: the kernel does not report theirs).
                unsafe { sigaction(undo, &reinstall(prev), ptr::null_mut()) };
            }
            STATE.store(UNINIT, Ordering::Release);
            return WRT_E_OS as i32;
        }
    }
    STATE.store(READY, Ordering::Release);
    WRT_OK as i32
}

/// A previous action as `sigaction(2)` takes it back: with our trampoline.
fn reinstall(prev: KSigactionOut) -> KSigactionIn {
    KSigactionIn {
        handler: prev.handler,
        tramp: wrt_trap_tramp as *const () as usize,
        mask: prev.mask,
        flags: prev.flags,
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
    unsafe { forward(sig, info, uc, raised) };
}

/// Hands a signal that is not a trap to the action installed before ours:
/// calls its handler, or for `SIG_DFL` / `SIG_IGN` reinstalls it and lets
/// the fault happen again on return (the default action then kills the
/// process with this signal); a signal that was not a data abort (possibly
/// sent) is sent again.
///
/// # Safety
/// The arguments are the kernel's for this signal.
unsafe fn forward(sig: i32, info: *mut SigInfo, uc: *mut c_void, raised: bool) {
    let Some(i) = SIGNALS.iter().position(|&s| s == sig) else {
        return;
    };
    // SAFETY: read-only after `init` (which finished before any of our
    // handlers could run).
    let prev = unsafe { *PREVIOUS.0.get().cast::<KSigactionOut>().wrapping_add(i) };
    match prev.handler {
        SIG_DFL | SIG_IGN => {
            // SAFETY: reinstalls the previous action as it was.
            unsafe { sigaction(sig, &reinstall(prev), ptr::null_mut()) };
            if !raised {
                raise_again(sig);
            }
        }
        h if prev.flags & SA_SIGINFO != 0 => {
            // SAFETY: an SA_SIGINFO handler the program installed.
            let f: unsafe extern "C" fn(i32, *mut SigInfo, *mut c_void) =
                unsafe { core::mem::transmute(h) };
            // SAFETY: called as the kernel would have called it.
            unsafe { f(sig, info, uc) };
        }
        h => {
            // SAFETY: a plain handler the program installed.
            let f: unsafe extern "C" fn(i32) = unsafe { core::mem::transmute(h) };
            // SAFETY: called as the kernel would have called it.
            unsafe { f(sig) };
        }
    }
}

// ---- alternate signal stacks ----

/// Usable bytes of the alternate signal stacks we make (plus one guard page
/// below): XNU's frame is 976 bytes plus a 128-byte gap, and a previous
/// handler we forward to needs room too; the kernel accepts >= 8192.
pub(crate) const ALT_STACK_SIZE: usize = 256 * 1024;
/// An alternate stack the thread already has is kept if it is at least this
/// large.
const ALT_STACK_KEEP: usize = 64 * 1024;

/// A thread's alternate-stack bookkeeping (in its [`super::Slot`]).
pub(crate) struct AltStack {
    /// The stack we mapped.
    mapping: Option<Reservation>,
    /// The alternate stack the thread had before ours.
    previous: StackT,
}

impl AltStack {
    /// None yet.
    pub(crate) const NONE: Self = Self {
        mapping: None,
        previous: StackT {
            sp: 0,
            size: 0,
            flags: SS_DISABLE,
        },
    };
}

/// `wrt_thread_init`: gives the calling thread a slot and an alternate
/// signal stack of [`ALT_STACK_SIZE`] bytes with a guard page below it
/// (unless it has one of at least 64 KiB already). Idempotent.
pub(crate) fn thread_init() -> i32 {
    let Some(slot) = super::claim_current_slot() else {
        return WRT_E_TOO_MANY as i32;
    };
    // SAFETY: only the owning thread touches `alt`, and this is it.
    let alt = unsafe { &mut *slot.alt.get() };
    let mut cur = AltStack::NONE.previous;
    // SAFETY: queries into `cur`.
    if !unsafe { sigaltstack(ptr::null(), &mut cur) } {
        return WRT_E_OS as i32;
    }
    let ours = alt.mapping.as_ref().map(|r| r.base().as_ptr() as usize);
    if cur.flags & SS_DISABLE == 0 && (Some(cur.sp) == ours || cur.size >= ALT_STACK_KEEP) {
        return WRT_OK as i32;
    }
    if cur.flags & SS_ONSTACK != 0 {
        return WRT_E_INVALID as i32;
    }
    if alt.mapping.is_none() {
        let Ok(pages) = MacOsPages::new() else {
            return WRT_E_OS as i32;
        };
        let opts = ReserveOptions::new(ALT_STACK_SIZE).guard_before(pages.page_size());
        let Ok(r) = pages.reserve(&opts) else {
            return WRT_E_OUT_OF_MEMORY as i32;
        };
        // SAFETY: `r` is a fresh reservation; nothing else uses it.
        if unsafe { pages.commit(&r, 0, ALT_STACK_SIZE) }.is_err() {
            // SAFETY: as above.
            let _ = unsafe { pages.release(r) };
            return WRT_E_OUT_OF_MEMORY as i32;
        }
        alt.mapping = Some(r);
    }
    let Some(r) = alt.mapping.as_ref() else {
        return WRT_E_OS as i32;
    };
    let new = StackT {
        sp: r.base().as_ptr() as usize,
        size: ALT_STACK_SIZE,
        flags: 0,
    };
    // SAFETY: `new` is our committed mapping.
    if !unsafe { sigaltstack(&new, ptr::null_mut()) } {
        return WRT_E_OS as i32;
    }
    alt.previous = cur;
    WRT_OK as i32
}

/// `wrt_thread_fini`: puts back the alternate stack the thread had before
/// `wrt_thread_init`, unmaps ours and gives the slot back. `WRT_E_INVALID`
/// inside a `wrt_call`.
pub(crate) fn thread_fini() -> i32 {
    let Some(slot) = super::current_slot() else {
        return WRT_OK as i32;
    };
    if super::in_call(slot) {
        return WRT_E_INVALID as i32;
    }
    // SAFETY: only the owning thread touches `alt`, and this is it.
    let alt = unsafe { &mut *slot.alt.get() };
    if let Some(r) = alt.mapping.take() {
        let mut cur = AltStack::NONE.previous;
        // SAFETY: queries into `cur`.
        let queried = unsafe { sigaltstack(ptr::null(), &mut cur) };
        if queried && cur.flags & SS_DISABLE == 0 && cur.sp == r.base().as_ptr() as usize {
            let mut previous = alt.previous;
            previous.flags &= SS_DISABLE; // 0 (enable) or SS_DISABLE
            // SAFETY: the stack the thread had before (or "disabled").
            if !unsafe { sigaltstack(&previous, ptr::null_mut()) } {
                alt.mapping = Some(r);
                return WRT_E_OS as i32;
            }
        }
        if let Ok(pages) = MacOsPages::new() {
            // SAFETY: no longer the thread's alternate stack; nothing else
            // refers to it.
            let _ = unsafe { pages.release(r) };
        }
        alt.previous = AltStack::NONE.previous;
    }
    super::release_slot(slot);
    WRT_OK as i32
}
