//! What the two Unix trap backends (`linux.rs`, `macos.rs`) share, written
//! once over the [`Kernel`] trait, which the backend of the build
//! (`super::os::Sys`) implements with its own structure layouts and system
//! calls:
//! * [`init`], [`initialized`], [`forward`]: installing the fault handlers
//!   once per process, recording the actions they replace, and handing a
//!   signal that is not a trap to the action it replaced (or the default
//!   action);
//! * [`AltStack`], [`thread_init`], [`thread_fini`]: the alternate signal
//!   stack of `wrt_thread_init` / `wrt_thread_fini`.
//!
//! What differs and stays in the backends: the `sigaction` structure
//! (Linux's kernel `struct sigaction` carries our `sa_restorer`; XNU's
//! `__sigaction` carries our `sa_tramp` and reports no trampoline back),
//! the `stack_t` layout (`ss_size` and `ss_flags` swapped, `SS_DISABLE` 2
//! vs 4), how a sent signal is sent again (`tgkill` vs `kill`), the
//! signal context and the handler itself.

use core::cell::UnsafeCell;
use core::ffi::c_void;
use core::ptr;
use core::sync::atomic::{AtomicU32, Ordering};

use crate::capi::{WRT_E_INVALID, WRT_E_OS, WRT_E_OUT_OF_MEMORY, WRT_E_TOO_MANY, WRT_OK};
use crate::page::{PageAllocator, Reservation, ReserveOptions};

/// `SIG_DFL` and `SIG_IGN` as handler values (Linux
/// `include/uapi/asm-generic/signal-defs.h`, XNU `bsd/sys/signal.h`: the
/// same on both).
pub(crate) const SIG_DFL: usize = 0;
pub(crate) const SIG_IGN: usize = 1;

/// The most signals a backend hooks (Linux x86_64: SIGSEGV, SIGBUS, SIGFPE).
const MAX_SIGNALS: usize = 3;

/// A backend's signal system calls and layouts.
pub(crate) trait Kernel {
    /// The signals the backend hooks (at most [`MAX_SIGNALS`]).
    const SIGNALS: &'static [i32];
    /// An action as `sigaction` reports the installed one.
    type Action: Copy;
    /// An [`Self::Action`] for `SIG_DFL` (a placeholder until [`init`]).
    const DEFAULT: Self::Action;
    /// `SS_ONSTACK` of `stack_t.ss_flags`: running on the alternate stack.
    const SS_ONSTACK: i32;
    /// `SS_DISABLE` of `stack_t.ss_flags`: no alternate stack.
    const SS_DISABLE: i32;
    /// Where the alternate stacks come from.
    type Pages: PageAllocator;

    /// Called by [`init`] once, before the first handler is installed.
    fn prepare();
    /// `sigaction(sig, NULL, old)`: reads the installed action. True on
    /// success.
    fn query(sig: i32, old: &mut Self::Action) -> bool;
    /// Installs the backend's handler for `sig`. True on success.
    ///
    /// # Safety
    /// The previous action of `sig` has been recorded where the handler
    /// forwards from (the handler may run as soon as this returns).
    unsafe fn install(sig: i32) -> bool;
    /// Installs `prev` (an action [`Self::query`] read) for `sig` again.
    /// True on success.
    ///
    /// # Safety
    /// `prev`'s handler is still valid code (or `SIG_DFL` / `SIG_IGN`).
    unsafe fn reinstall(sig: i32, prev: &Self::Action) -> bool;
    /// The handler of an action: an address, `SIG_DFL` or `SIG_IGN`.
    fn handler(action: &Self::Action) -> usize;
    /// Whether the action's handler takes three arguments (`SA_SIGINFO`).
    fn siginfo(action: &Self::Action) -> bool;
    /// Sends `sig` again (a sent signal whose previous action is `SIG_DFL`
    /// or `SIG_IGN`, reinstalled just before).
    fn resend(sig: i32);
    /// The kernel's `stack_t`.
    type StackT: Copy;
    /// [`Stack`] in the kernel's layout (written by [`stack_t!`]).
    fn to_kernel(s: Stack) -> Self::StackT;
    /// The kernel's `stack_t` as a [`Stack`] (written by [`stack_t!`]).
    fn from_kernel(s: Self::StackT) -> Stack;
    /// `sigaltstack(new, old)`. True on success.
    ///
    /// # Safety
    /// `new` and `old` are NULL or valid; `new` describes memory usable as
    /// a signal stack.
    unsafe fn sigaltstack(new: *const Self::StackT, old: *mut Self::StackT) -> bool;
    /// The page allocator for alternate stacks.
    fn pages() -> crate::errno::Result<Self::Pages>;
}

/// The backend of this build.
type K = super::os::Sys;

/// The actions that were installed before ours, one per entry of
/// [`Kernel::SIGNALS`]; written once by [`init`] before our handler is
/// installed, read-only afterwards.
struct Previous(UnsafeCell<[<K as Kernel>::Action; MAX_SIGNALS]>);
// SAFETY: written only by `init` while it holds `STATE` at BUSY and before
// any of our handlers is installed; read-only from then on.
unsafe impl Sync for Previous {}
static PREVIOUS: Previous = Previous(UnsafeCell::new([K::DEFAULT; MAX_SIGNALS]));
const _: () = assert!(K::SIGNALS.len() <= MAX_SIGNALS);

const UNINIT: u32 = 0;
const BUSY: u32 = 1;
const READY: u32 = 2;
/// `wrt_trap_init`'s progress.
static STATE: AtomicU32 = AtomicU32::new(UNINIT);

/// Whether the handlers are installed.
pub(crate) fn initialized() -> bool {
    STATE.load(Ordering::Acquire) == READY
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
    K::prepare();
    // SAFETY: STATE is BUSY and none of our handlers is installed yet:
    // nothing else reads or writes PREVIOUS.
    let previous = unsafe { &mut *PREVIOUS.0.get() };
    // Read every previous action first, then install: a fault racing the
    // install must find its previous action already recorded.
    for (&sig, prev) in K::SIGNALS.iter().zip(previous.iter_mut()) {
        if !K::query(sig, prev) {
            STATE.store(UNINIT, Ordering::Release);
            return WRT_E_OS as i32;
        }
    }
    // Read-only from here on (our handler reads it once installed).
    let previous: &[<K as Kernel>::Action] = previous;
    for (i, &sig) in K::SIGNALS.iter().enumerate() {
        // SAFETY: every previous action is recorded (above).
        if !unsafe { K::install(sig) } {
            for (&undo, prev) in K::SIGNALS.iter().zip(previous).take(i) {
                // SAFETY: restores the action read above.
                unsafe { K::reinstall(undo, prev) };
            }
            STATE.store(UNINIT, Ordering::Release);
            return WRT_E_OS as i32;
        }
    }
    STATE.store(READY, Ordering::Release);
    WRT_OK as i32
}

/// Hands a signal that is not a trap to the action installed before ours:
/// calls its handler, or for `SIG_DFL` / `SIG_IGN` reinstalls it and lets
/// the fault happen again on return (the default action then kills the
/// process with this signal, as it would have without us); a signal that
/// was not `raised` by a fault (possibly sent) is sent again.
///
/// # Safety
/// `sig`, `info` and `uc` are the kernel's for this signal; called from our
/// handler (so after `init` recorded the previous actions).
pub(crate) unsafe fn forward(sig: i32, info: *mut c_void, uc: *mut c_void, raised: bool) {
    let Some(i) = K::SIGNALS.iter().position(|&s| s == sig) else {
        return;
    };
    // SAFETY: read-only after `init` (which finished recording before any
    // of our handlers could run).
    let prev = unsafe { (*PREVIOUS.0.get())[i] };
    match K::handler(&prev) {
        SIG_DFL | SIG_IGN => {
            // SAFETY: reinstalls the previous action as it was.
            unsafe { K::reinstall(sig, &prev) };
            if !raised {
                K::resend(sig);
            }
        }
        h if K::siginfo(&prev) => {
            // SAFETY: an SA_SIGINFO handler the program installed.
            let f: unsafe extern "C" fn(i32, *mut c_void, *mut c_void) =
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
/// below). Large enough for the kernel's biggest signal frame (Linux x86
/// XSAVE with AVX-512; arm64 SVE/SME at the largest vector length is
/// bounded by AT_MINSIGSTKSZ, which is far smaller except with ZA live;
/// XNU's frame is 976 bytes plus a 128-byte gap, and it accepts >= 8192)
/// and a previous handler we forward to; committed lazily by the kernel.
pub(crate) const ALT_STACK_SIZE: usize = 256 * 1024;
/// An alternate stack the thread already has is kept if it is at least this
/// large.
const ALT_STACK_KEEP: usize = 64 * 1024;

/// A `stack_t` in neither kernel's layout ([`Kernel::to_kernel`]
/// converts); `flags` in the kernel's own bits.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Stack {
    /// `ss_sp`: the lowest address.
    pub sp: usize,
    /// `ss_size`.
    pub size: usize,
    /// `ss_flags`.
    pub flags: i32,
}

/// Inside `impl Kernel`: `type StackT = $t` and its conversions from and to
/// [`Stack`]. Both kernels name the fields `sp`, `size` and `flags`; only
/// their order differs (Linux: sp, flags, size; XNU: sp, size, flags), and
/// a struct literal names fields, not positions.
macro_rules! stack_t {
    ($t:ident) => {
        type StackT = $t;

        fn to_kernel(s: $crate::trap::unix::Stack) -> $t {
            $t {
                sp: s.sp,
                size: s.size,
                flags: s.flags,
            }
        }

        fn from_kernel(s: $t) -> $crate::trap::unix::Stack {
            $crate::trap::unix::Stack {
                sp: s.sp,
                size: s.size,
                flags: s.flags,
            }
        }
    };
}
pub(crate) use stack_t;

/// The calling thread's alternate stack (`sigaltstack(NULL, &old)`), or
/// `None` if the query failed.
fn current_altstack() -> Option<Stack> {
    let mut old = K::to_kernel(AltStack::NONE.previous);
    // SAFETY: only queries, into `old`.
    unsafe { K::sigaltstack(ptr::null(), &mut old) }.then(|| K::from_kernel(old))
}

/// `sigaltstack(&s, NULL)`. True on success.
///
/// # Safety
/// `s` describes memory usable as a signal stack (or is disabled).
unsafe fn set_altstack(s: Stack) -> bool {
    let new = K::to_kernel(s);
    // SAFETY: as the caller says.
    unsafe { K::sigaltstack(&new, ptr::null_mut()) }
}

/// A thread's alternate-stack bookkeeping (in its [`super::Slot`]).
pub(crate) struct AltStack {
    /// The stack we mapped (kept in the slot if the thread ends without
    /// `wrt_thread_fini`, and reused by the next owner of the slot).
    mapping: Option<Reservation>,
    /// The alternate stack the thread had before ours.
    previous: Stack,
}

impl AltStack {
    /// None yet.
    pub(crate) const NONE: Self = Self {
        mapping: None,
        previous: Stack {
            sp: 0,
            size: 0,
            flags: K::SS_DISABLE,
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
    let Some(cur) = current_altstack() else {
        return WRT_E_OS as i32;
    };
    let ours = alt.mapping.as_ref().map(|r| r.base().as_ptr() as usize);
    if cur.flags & K::SS_DISABLE == 0 && (Some(cur.sp) == ours || cur.size >= ALT_STACK_KEEP) {
        return WRT_OK as i32; // ours already, or a large enough one of theirs
    }
    if cur.flags & K::SS_ONSTACK != 0 {
        return WRT_E_INVALID as i32; // running on it: cannot be replaced
    }
    if alt.mapping.is_none() {
        let Ok(pages) = K::pages() else {
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
    let new = Stack {
        sp: r.base().as_ptr() as usize,
        size: ALT_STACK_SIZE,
        flags: 0,
    };
    // SAFETY: `new` is our committed mapping.
    if !unsafe { set_altstack(new) } {
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
        if let Some(cur) = current_altstack()
            && cur.flags & K::SS_DISABLE == 0
            && cur.sp == r.base().as_ptr() as usize
        {
            let mut previous = alt.previous;
            previous.flags &= K::SS_DISABLE; // 0 (enable) or SS_DISABLE
            // SAFETY: the stack the thread had before (or "disabled").
            if !unsafe { set_altstack(previous) } {
                alt.mapping = Some(r);
                return WRT_E_OS as i32;
            }
        }
        if let Ok(pages) = K::pages() {
            // SAFETY: no longer the thread's alternate stack (checked
            // above, or it never was this thread's); nothing else refers
            // to it.
            let _ = unsafe { pages.release(r) };
        }
        alt.previous = AltStack::NONE.previous;
    }
    super::release_slot(slot);
    WRT_OK as i32
}
