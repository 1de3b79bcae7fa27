//! Traps for AOT code: a fault at a memory's guard, a stack overflow, a
//! division trap or a `wrt_trap_raise` ends the innermost `wrt_call` of the
//! thread with a `WRT_TRAP_*` code instead of killing the process.
//!
//! | piece | where |
//! |---|---|
//! | `wrt_call` entry, `wrt_trap_resume`, `wrt_trap_raise`, the signal restorer / trampoline | `asm/<isa>-elf/trap.s`, `asm/aarch64-macho/trap.s` |
//! | per-thread chains of `wrt_call` frames, the decision "is this fault a trap, which one" | this module (platform-neutral) |
//! | handler installation, signal context access, alternate signal stacks | [`unix`] (what the next two share: installing once, forwarding to the previous action, alternate stacks, over their system calls); [`linux`] (raw `rt_sigaction`, `sigaltstack`); `macos` (raw BSD `sigaction` with our `sa_tramp`, `sigaltstack`; built and checked, not executed); bare metal EL1: `baremetal` (no handler of its own: `wrt_baremetal_sync_exception`, called by the integrator's vector; runs under qemu-system) |
//! | the C entry points (`wrt_trap_init`, `wrt_thread_init`, ...) | `src/capi/trap.rs` |
//!
//! # Per-thread state without libc
//! The library owns no thread-local storage: it cannot use `#[thread_local]`
//! (which needs the program's TLS setup and a libc-provided `__tls_get_addr`
//! in some link modes), and it must not write `fs` / `TPIDR_EL0`, which
//! belong to the program's libc. It only *reads* the thread pointer
//! (`fs:0`, which glibc and musl point at the thread's own control block,
//! or `TPIDR_EL0`) and uses it as the key of a fixed table of
//! [`MAX_THREADS`] slots ([`THREADS`], open addressing). A slot holds the
//! head of the thread's chain of `wrt_call` frames, which live on the
//! thread's own stack (`Frame`, built by `trap.s`). Lookups are plain atomic
//! loads, so the signal handler can do them; only the owning thread writes
//! its slot's chain (the handler runs on that same thread). Slots are taken
//! by the first `wrt_call` or `wrt_thread_init` of a thread and given back by
//! `wrt_thread_fini`; a thread that ends without `wrt_thread_fini` leaves its
//! slot to the next thread with the same thread pointer (libcs reuse thread
//! control blocks). Two live threads must have different thread pointers:
//! every libc ensures it; a program without libc that starts threads must
//! give each its own.
//!
//! # Resuming
//! The handler rewrites the interrupted context (PC to `wrt_trap_resume`, SP
//! to the `wrt_call` frame, the return register to the code) and returns
//! through `rt_sigreturn`: the kernel then restores the signal mask of the
//! interrupted code (so a trap leaves the mask as it was, with no
//! `rt_sigprocmask` call), leaves the alternate stack, and reloads the FP
//! state, in one system call. On x86_64 Linux, where that call is most of
//! a trap's cost, the handler jumps to `wrt_trap_resume` itself whenever
//! the jump leaves the same state (`linux.rs` says when and why).
//! `wrt_trap_raise` is not in a handler: it drops the frames below
//! `wrt_call` and jumps.
//!
//! # What is never a trap
//! A fault is a trap only when all of these hold, otherwise it goes to the
//! handler that was installed before `wrt_trap_init` (or the default
//! action): the thread is inside a `wrt_call`; the fault was raised by the
//! CPU, not sent (`si_code > 0`); the PC is not in the helper's own code
//! ([`in_helper`]: a helper call is never left by a jump, since it may hold a
//! lock or a pinned memory); and it is a load/store in a live memory's
//! reservation at or past its current size (or an MTE tag-check fault
//! there), a stack overflow (an access just below the interrupted stack
//! pointer, which lies below the `wrt_call` frame), or an integer division
//! trap (x86_64 `#DE`).

use core::cell::UnsafeCell;
use core::mem::offset_of;
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering, compiler_fence};

use crate::capi::{
    WRT_E_INVALID, WRT_E_TOO_MANY, WRT_TRAP_BAD_CODE, WRT_TRAP_INT_DIVIDE_BY_ZERO,
    WRT_TRAP_INT_OVERFLOW, WRT_TRAP_OUT_OF_BOUNDS, WRT_TRAP_STACK_OVERFLOW, memory_containing,
    wrt_trap_info,
};

#[cfg(wrt_os = "linux")]
pub(crate) mod linux;
#[cfg(any(wrt_os = "linux", wrt_os = "macos"))]
pub(crate) mod unix;
#[cfg(wrt_os = "linux")]
pub(crate) use linux as os;
#[cfg(wrt_os = "macos")]
pub(crate) mod macos;
#[cfg(wrt_os = "macos")]
pub(crate) use macos as os;
#[cfg(wrt_os = "baremetal")]
pub(crate) mod baremetal;
#[cfg(wrt_os = "baremetal")]
pub(crate) use baremetal as os;

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
core::arch::global_asm!(include_str!("../../asm/x86_64-elf/trap.s"), options(raw));
#[cfg(all(target_arch = "aarch64", any(target_os = "linux", target_os = "none")))]
core::arch::global_asm!(include_str!("../../asm/aarch64-elf/trap.s"), options(raw));
#[cfg(all(target_arch = "aarch64", target_os = "macos"))]
core::arch::global_asm!(include_str!("../../asm/aarch64-macho/trap.s"), options(raw));

/// A `wrt_call` frame, on the stack of the thread that called `wrt_call`
/// (built by `trap.s`; its offsets are pinned below). Resuming a trap means
/// setting SP to the frame's address and PC to `wrt_trap_resume`.
#[repr(C)]
pub(crate) struct Frame {
    /// The next older frame of the same thread, or null.
    prev: *mut Frame,
    /// The chain head this frame is linked into (`&Slot::head`).
    head: *const AtomicPtr<Frame>,
    /// Where the caller wants the trap's details (may be null).
    info: *mut wrt_trap_info,
    /// The code `wrt_trap_raise` resumes with.
    code: i32,
}

const _: () = {
    assert!(offset_of!(Frame, prev) == 0);
    assert!(offset_of!(Frame, head) == 8);
    assert!(offset_of!(Frame, info) == 16);
    assert!(offset_of!(Frame, code) == 24);
};

unsafe extern "C" {
    /// `trap.s`: where a trap resumes (`rsp`/`sp` = the frame, the code in
    /// `eax`/`w0`). Not callable; only its address is used (by the signal
    /// handlers; bare metal resumes through `wrt_trap_unwind`).
    #[cfg_attr(wrt_os = "baremetal", allow(dead_code))]
    pub(crate) fn wrt_trap_resume();
    /// `trap.s`: `[start, end)` of the trap routines' code.
    fn wrt_trap_text_bounds() -> Bounds;
    /// `mem.s`: `[start, end)` of `wrt_arch_memset` and `wrt_arch_memmove`.
    fn wrt_arch_mem_bounds() -> Bounds;
}

/// A code range, as the `*_bounds` routines return it (two registers).
#[repr(C)]
#[derive(Copy, Clone)]
struct Bounds {
    start: usize,
    end: usize,
}

/// How many threads may hold a slot at once.
pub(crate) const MAX_THREADS: usize = 4096;

/// A slot's `key`: never used.
const EMPTY: usize = 0;
/// A slot's `key`: given back; lookups probe past it.
const TOMBSTONE: usize = usize::MAX;

/// One thread's trap state.
pub(crate) struct Slot {
    /// `thread pointer + 1` of the owner (so a zero thread pointer, as in a
    /// program without libc, is a valid key), [`EMPTY`] or [`TOMBSTONE`].
    key: AtomicUsize,
    /// The innermost `wrt_call` frame of the owner, or null.
    pub(crate) head: AtomicPtr<Frame>,
    /// The alternate signal stack `wrt_thread_init` set up (owner only;
    /// none on bare metal).
    #[cfg_attr(wrt_os = "baremetal", allow(dead_code))]
    pub(crate) alt: UnsafeCell<os::AltStack>,
}

// SAFETY: `key` and `head` are atomics; `alt` is only touched by the thread
// that owns the slot (the one whose thread pointer is the key), in
// `wrt_thread_init` / `wrt_thread_fini`, never from a signal handler.
unsafe impl Sync for Slot {}

/// The thread table (see the module docs).
static THREADS: [Slot; MAX_THREADS] = [const {
    Slot {
        key: AtomicUsize::new(EMPTY),
        head: AtomicPtr::new(core::ptr::null_mut()),
        alt: UnsafeCell::new(os::AltStack::NONE),
    }
}; MAX_THREADS];

/// The table index a key starts probing at (Fibonacci hashing: thread
/// pointers differ in their middle bits).
fn home(key: usize) -> usize {
    (key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) as usize >> (usize::BITS - 12)
}

const _: () = assert!(MAX_THREADS == 1 << 12);

/// The slot of the thread with `key`, if it has one. Only atomic loads:
/// async-signal-safe.
fn find(key: usize) -> Option<&'static Slot> {
    let start = home(key);
    for k in 0..MAX_THREADS {
        let slot = &THREADS[(start + k) % MAX_THREADS];
        match slot.key.load(Ordering::Acquire) {
            k if k == key => return Some(slot),
            EMPTY => return None,
            _ => {}
        }
    }
    None
}

/// The slot of the calling thread, taking one if it has none. Never called
/// from a signal handler.
fn claim(key: usize) -> Option<&'static Slot> {
    if let Some(slot) = find(key) {
        return Some(slot);
    }
    // Only this thread inserts `key`, so nobody else can race it in; other
    // threads race only for the free slot itself.
    let start = home(key);
    for k in 0..MAX_THREADS {
        let slot = &THREADS[(start + k) % MAX_THREADS];
        let seen = slot.key.load(Ordering::Relaxed);
        if (seen == EMPTY || seen == TOMBSTONE)
            && slot
                .key
                .compare_exchange(seen, key, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            return Some(slot);
        }
    }
    None
}

/// `TPIDR_EL0`, read, never written: the thread pointer on aarch64 Linux,
/// the calling context's key on bare metal (the integrator's context
/// switch carries it).
#[cfg(all(target_arch = "aarch64", any(wrt_os = "linux", wrt_os = "baremetal")))]
#[inline]
pub(crate) fn tpidr_el0() -> usize {
    let tp: usize;
    // SAFETY: reading TPIDR_EL0 is allowed at EL0 and EL1 and has no side
    // effects.
    unsafe {
        core::arch::asm!("mrs {}, tpidr_el0", out(reg) tp,
            options(nomem, nostack, preserves_flags));
    }
    tp
}

/// The calling thread's key.
fn current_key() -> usize {
    os::thread_pointer().wrapping_add(1)
}

/// The calling thread's slot, if it has one (async-signal-safe).
pub(crate) fn current_slot() -> Option<&'static Slot> {
    find(current_key())
}

/// The calling thread's slot, taken if needed.
pub(crate) fn claim_current_slot() -> Option<&'static Slot> {
    claim(current_key())
}

/// Gives the calling thread's slot back. The chain must be empty.
pub(crate) fn release_slot(slot: &'static Slot) {
    slot.key.store(TOMBSTONE, Ordering::Release);
}

/// Whether the calling thread is inside a `wrt_call`.
pub(crate) fn in_call(slot: &Slot) -> bool {
    !slot.head.load(Ordering::Relaxed).is_null()
}

/// Links a new `wrt_call` frame into the calling thread's chain; called by
/// `wrt_call` (`trap.s`) before it runs `fn`. Returns `WRT_OK`, or
/// `WRT_E_INVALID` (`wrt_trap_init` has not succeeded) or `WRT_E_TOO_MANY`
/// (no free thread slot), in which case `fn` is not run.
///
/// # Safety
/// `frame` is the caller's frame, valid until it is unlinked again.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wrt_trap_push(frame: *mut Frame) -> i32 {
    if !os::initialized() {
        return WRT_E_INVALID as i32;
    }
    let Some(slot) = claim_current_slot() else {
        return WRT_E_TOO_MANY as i32;
    };
    // SAFETY: `frame` is wrt_call's own frame, writable (caller).
    unsafe {
        (*frame).prev = slot.head.load(Ordering::Relaxed);
    }
    // SAFETY: as above.
    unsafe {
        (*frame).head = &slot.head;
    }
    // The frame is complete before the handler (same thread) can see it.
    compiler_fence(Ordering::SeqCst);
    slot.head.store(frame, Ordering::Relaxed);
    0
}

/// The unwinding half of `wrt_trap_raise` (`trap.s`): records the trap for
/// the innermost `wrt_call` of the thread, unlinks its frame and returns it
/// (the caller then resumes it), or returns null outside any `wrt_call`.
/// `pc` is the return address of the `wrt_trap_raise` call.
///
/// # Safety
/// Called by `wrt_trap_raise` only, which never returns to its caller.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wrt_trap_raise_at(code: i32, pc: usize) -> *mut Frame {
    let Some(slot) = current_slot() else {
        return core::ptr::null_mut();
    };
    let frame = slot.head.load(Ordering::Relaxed);
    // Dead (below this function's own frame): see `take`.
    let here = &raw const frame as usize;
    if frame.is_null() || frame as usize <= here {
        return core::ptr::null_mut();
    }
    let code = if code > 0 { code } else { WRT_TRAP_BAD_CODE };
    let info = wrt_trap_info {
        code,
        signal: 0,
        address: 0,
        pc: pc as u64,
        memory: 0,
        offset: 0,
    };
    // SAFETY: `frame` is the live innermost frame of this thread.
    unsafe { finish(frame, &info) };
    // SAFETY: as above.
    unsafe { (*frame).code = code };
    frame
}

/// Writes `info` for the caller of the frame's `wrt_call` and unlinks it.
///
/// # Safety
/// `frame` is the innermost live frame of the calling thread.
unsafe fn finish(frame: *mut Frame, info: &wrt_trap_info) {
    // SAFETY: the frame is live (caller), so readable.
    let f = unsafe { &*frame };
    if !f.info.is_null() {
        // SAFETY: the caller's pointer, NULL or valid for a write
        // (wrt_call's contract).
        unsafe { f.info.write(*info) };
    }
    // SAFETY: `head` points into the thread's static slot.
    unsafe { (*f.head).store(f.prev, Ordering::Relaxed) };
}

/// What a fault looked like, read from the signal (or exception) context.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Fault {
    /// The signal number (reported in `wrt_trap_info`).
    pub signal: i32,
    /// What happened.
    pub kind: FaultKind,
    /// The faulting data address (0 if none).
    pub addr: usize,
    /// The interrupted program counter.
    pub pc: usize,
    /// The interrupted stack pointer.
    pub sp: usize,
}

/// The kinds of fault the trap machinery can turn into traps.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum FaultKind {
    /// A load or store the MMU refused (SIGSEGV or SIGBUS).
    Access,
    /// A synchronous MTE tag-check fault (`SEGV_MTESERR`).
    TagCheck,
    /// An integer division by zero (x86_64 only: aarch64 division never
    /// traps, generated code raises it).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    DivideByZero,
    /// A signed division overflow (`INT_MIN / -1`; x86_64 only, as above).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    DivideOverflow,
}

/// How far below the interrupted stack pointer an access still counts as
/// a stack overflow (the largest frame a compiler touches without a probe
/// is one page; 64 KiB is generous) and how far above.
const STACK_BELOW: usize = 64 * 1024;
const STACK_ABOVE: usize = 256;

/// Whether `pc` is in the helper's own code that can touch linear memory:
/// the trap routines and the `memory.fill` / `memory.copy` routines. (The
/// helper's Rust code reads linear memory only in the atomic wait, at an
/// address it checked against the current size of a shared memory, which
/// never shrinks: it cannot fault in a guard region.)
pub(crate) fn in_helper(pc: usize) -> bool {
    // SAFETY: leaf routines that only compute two addresses.
    let own = unsafe { wrt_trap_text_bounds() };
    // SAFETY: as above.
    let mem = unsafe { wrt_arch_mem_bounds() };
    [own, mem].iter().any(|b| (b.start..b.end).contains(&pc))
}

/// Decides whether `fault` ends the calling thread's innermost `wrt_call`.
/// If so, records the trap for it, unlinks its frame, and returns the frame
/// and the code to resume it with; otherwise returns `None` and changes
/// nothing. Async-signal-safe: atomic loads of the thread and memory tables.
pub(crate) fn take(fault: &Fault) -> Option<(*mut Frame, i32)> {
    let slot = current_slot()?;
    let frame = slot.head.load(Ordering::Relaxed);
    // A live frame lies at or above the stack pointer of the code running
    // inside it (at it: `fn` is an aarch64 leaf); one below it was left by a
    // `longjmp` out of `wrt_call` (dead), or `fn` switched stacks: never
    // resumed.
    if frame.is_null() || (frame as usize) < fault.sp || in_helper(fault.pc) {
        return None;
    }
    let mut info = wrt_trap_info {
        code: 0,
        signal: fault.signal,
        address: fault.addr as u64,
        pc: fault.pc as u64,
        memory: 0,
        offset: 0,
    };
    info.code = match fault.kind {
        FaultKind::DivideByZero => WRT_TRAP_INT_DIVIDE_BY_ZERO,
        FaultKind::DivideOverflow => WRT_TRAP_INT_OVERFLOW,
        FaultKind::Access | FaultKind::TagCheck => match memory_containing(fault.addr) {
            Some(m) if m.offset >= m.size_bytes || fault.kind == FaultKind::TagCheck => {
                info.memory = m.handle;
                info.offset = m.offset;
                WRT_TRAP_OUT_OF_BOUNDS
            }
            Some(_) => return None,
            None if fault.kind == FaultKind::Access
                && fault.addr < fault.sp.wrapping_add(STACK_ABOVE)
                && fault.addr >= fault.sp.wrapping_sub(STACK_BELOW) =>
            {
                WRT_TRAP_STACK_OVERFLOW
            }
            None => return None,
        },
    };
    // SAFETY: `frame` is the thread's innermost live frame; the handler
    // runs on the thread that owns it.
    unsafe { finish(frame, &info) };
    Some((frame, info.code))
}
