//! Traps for AOT code: `wrt_trap_init`, `wrt_call`, `wrt_trap_raise`,
//! `wrt_thread_init`, `wrt_thread_fini` (mechanism: `src/trap/`).
//!
//! # The contract in brief
//! * `wrt_trap_init()` once (any thread, idempotent) installs handlers for
//!   SIGSEGV and SIGBUS (and SIGFPE on x86_64), remembering the previous
//!   ones.
//! * `wrt_call(fn, ctx, &info)` runs `fn(ctx)`; a trap inside it (a load or
//!   store at or past a memory's current size, in its reservation; an MTE
//!   tag-check fault on a tagged memory; a stack overflow; an x86_64
//!   integer division trap; `wrt_trap_raise`) ends it with a positive
//!   `WRT_TRAP_*` code. Calls nest; each thread has its own chain; a trap
//!   ends exactly the innermost call of its thread.
//! * A fault that is not a trap goes to the previous handler, or gets the
//!   default action (the process dies of the same signal).
//! * A helper call (`wrt_memory_*`, `wrt_atomic_*`, ...) is never left by a
//!   trap: a fault whose PC is in the helper's own code is never a trap,
//!   and `wrt_trap_raise` is for generated code (and host functions it
//!   calls), never for code running inside a helper call.

use super::wrt_memory_t;

/// A load or store at or past the current size of a memory, inside its
/// reservation (the inaccessible part or the guard region), or an MTE
/// tag-check fault on a tagged memory.
pub const WRT_TRAP_OUT_OF_BOUNDS: i32 = 1;
/// The thread's stack overflowed inside `wrt_call` (needs an alternate
/// signal stack: see `wrt_thread_init`).
pub const WRT_TRAP_STACK_OVERFLOW: i32 = 2;
/// `unreachable` was executed (raised by generated code).
pub const WRT_TRAP_UNREACHABLE: i32 = 3;
/// Integer division or remainder by zero (x86_64 `#DE`, or raised).
pub const WRT_TRAP_INT_DIVIDE_BY_ZERO: i32 = 4;
/// Signed integer overflow: `INT_MIN / -1` (x86_64 `#DE`, or raised).
pub const WRT_TRAP_INT_OVERFLOW: i32 = 5;
/// A float-to-integer conversion out of range or of NaN (raised).
pub const WRT_TRAP_INVALID_CONVERSION: i32 = 6;
/// `call_indirect` to a null or uninitialised table element (raised).
pub const WRT_TRAP_INDIRECT_CALL_NULL: i32 = 7;
/// `call_indirect` whose function type does not match (raised).
pub const WRT_TRAP_INDIRECT_CALL_MISMATCH: i32 = 8;
/// A table access out of bounds (raised).
pub const WRT_TRAP_TABLE_OUT_OF_BOUNDS: i32 = 9;
/// An atomic access whose address is not a multiple of its size (raised).
pub const WRT_TRAP_UNALIGNED_ATOMIC: i32 = 10;
/// A null reference was dereferenced (raised).
pub const WRT_TRAP_NULL_REFERENCE: i32 = 11;
/// `wrt_trap_raise` was called with a code <= 0, which would look like
/// success or an error: it is reported as this code instead.
pub const WRT_TRAP_BAD_CODE: i32 = 12;
/// The first code an embedder may define for its own traps; `wrt_trap_raise`
/// passes every positive code through unchanged.
pub const WRT_TRAP_USER: i32 = 256;

/// What ended a `wrt_call` with a trap. Written only when the call returns
/// a `WRT_TRAP_*` code.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct wrt_trap_info {
    /// The `WRT_TRAP_*` code (the same value `wrt_call` returns).
    pub code: i32,
    /// The signal that reported a fault (SIGSEGV, SIGBUS, SIGFPE), or 0 for
    /// `wrt_trap_raise` (and on bare metal, which has no signals).
    pub signal: i32,
    /// The faulting data address (host address, as the kernel reported it;
    /// on aarch64 without the MTE tag), or 0 when there is none
    /// (`wrt_trap_raise`, division traps).
    pub address: u64,
    /// The program counter of the faulting instruction, or for
    /// `wrt_trap_raise` the return address of its call.
    pub pc: u64,
    /// The memory whose reservation holds `address` for
    /// `WRT_TRAP_OUT_OF_BOUNDS`, otherwise 0.
    pub memory: wrt_memory_t,
    /// `address` minus that memory's base (the Wasm address plus offset of
    /// the access), for `WRT_TRAP_OUT_OF_BOUNDS`; otherwise 0.
    pub offset: u64,
}

/// Installs the process-wide fault handling: handlers for SIGSEGV and
/// SIGBUS (and SIGFPE on x86_64) with raw `rt_sigaction`, flags
/// `SA_SIGINFO | SA_ONSTACK | SA_NODEFER`, remembering the handlers that
/// were installed before. Idempotent and thread-safe (a concurrent caller
/// waits for the first). Returns `WRT_OK` or `WRT_E_OS` (nothing changed).
///
/// A fault that is not a trap of a `wrt_call` (outside every `wrt_call`, in
/// the helper's own code, or at an address that is not in a memory's
/// inaccessible part or guard and not a stack overflow) goes to the
/// previous handler, called as the kernel would have called it (without
/// its `sa_mask`), or, when that was the default action or "ignore", the
/// previous action is reinstalled and the fault repeats, so the process
/// dies of the same signal as without the helper. A handler installed
/// after `wrt_trap_init` replaces ours: traps are then not caught.
///
/// Bare metal EL1: installs nothing (the exception vector is the
/// integrator's, which calls `wrt_baremetal_sync_exception`) and returns
/// `WRT_OK`. On QNX and Zephyr this returns `WRT_E_NOT_SUPPORTED`, as does
/// `wrt_thread_init`, and `wrt_call` refuses to run anything.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_trap_init() -> i32 {
    crate::trap::os::init()
}

/// Prepares the calling thread for `wrt_call`: takes its slot in the
/// helper's thread table (`wrt_call` does that too, lazily) and gives it an
/// alternate signal stack of 256 KiB with an inaccessible guard page below
/// it, mapped with the page allocator, unless the thread already has one of
/// at least 64 KiB. Without an alternate stack a stack overflow cannot be
/// reported (the kernel has nowhere to run the handler) and kills the
/// process, so call this on every thread that runs Wasm code, the main
/// thread included. Idempotent. Returns `WRT_OK`, `WRT_E_TOO_MANY` (more
/// than 4096 threads hold slots), `WRT_E_OUT_OF_MEMORY`, `WRT_E_INVALID`
/// (called while running on the alternate stack) or `WRT_E_OS`.
///
/// A thread is known by its thread pointer (`fs` base / `TPIDR_EL0`, which
/// every libc sets up and the helper only reads); a thread that ends
/// without `wrt_thread_fini` leaves its slot and stack to the next thread
/// with the same thread pointer.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_thread_init() -> i32 {
    crate::trap::os::thread_init()
}

/// Undoes `wrt_thread_init` for the calling thread: restores the alternate
/// signal stack it had before, unmaps ours and gives the thread's slot
/// back. Returns `WRT_OK` (also when there was nothing to undo),
/// `WRT_E_INVALID` when called inside a `wrt_call`, or `WRT_E_OS`.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_thread_fini() -> i32 {
    crate::trap::os::thread_fini()
}

unsafe extern "C" {
    /// Runs `fn(ctx)` and returns `WRT_OK` when it returns, or the positive
    /// `WRT_TRAP_*` code of the trap that ended it; `info` (may be NULL)
    /// receives the trap's details, and is written only for a trap.
    /// Returns `WRT_E_NULL` (`fn` is NULL), `WRT_E_INVALID` (`wrt_trap_init`
    /// has not succeeded) or `WRT_E_TOO_MANY` (no free thread slot) without
    /// running `fn`. Where traps are not implemented (QNX, Zephyr) it
    /// returns `WRT_E_NOT_SUPPORTED` and never runs `fn`.
    ///
    /// A trap unwinds exactly the innermost `wrt_call` of the calling
    /// thread: the frames of `fn` and of everything it called are dropped
    /// like a `longjmp` drops them (no cleanup runs), the callee-saved
    /// registers are those of the `wrt_call` caller, and the signal mask is
    /// the one of the code that trapped (the mask at `wrt_call`, unless
    /// that code changed it; no system call is made for it). Calls nest
    /// (host -> Wasm -> host -> Wasm) and every thread has its own chain.
    /// A stack overflow is reported only on a thread with an alternate
    /// signal stack (`wrt_thread_init`). `fn` must not switch stacks.
    ///
    /// Not async-signal-safe in the first call on a thread (it takes a
    /// table slot with a compare-and-swap); afterwards it makes no system
    /// call and takes no lock (on x86_64 programs without TLS, each call
    /// reads the thread pointer with one `arch_prctl` system call).
    ///
    /// # Safety
    /// `fn` must be NULL or a valid function; `info` NULL or valid for a
    /// write.
    pub fn wrt_call(
        r#fn: Option<unsafe extern "C" fn(ctx: *mut core::ffi::c_void)>,
        ctx: *mut core::ffi::c_void,
        info: *mut wrt_trap_info,
    ) -> i32;

    /// Ends the innermost `wrt_call` of the calling thread with `code`, a
    /// positive `WRT_TRAP_*` (or embedder-defined, >= `WRT_TRAP_USER`) code;
    /// a code <= 0 is reported as `WRT_TRAP_BAD_CODE`. `info.pc` is the
    /// return address of this call. For generated code and the host
    /// functions it calls; never from code running inside a helper call
    /// (`wrt_memory_*`, `wrt_atomic_*`), which must not be left by a jump.
    /// Outside every `wrt_call` there is nothing to unwind to: it executes
    /// an undefined instruction (SIGILL; on bare metal a synchronous
    /// exception with ESR_EL1.EC 0x00 for the integrator's vector). Where
    /// traps are not implemented (QNX, Zephyr) it always does that:
    /// `udf #0x5752` on aarch64, `ud2` on x86_64.
    pub fn wrt_trap_raise(code: i32) -> !;
}

/// Bare metal EL1: what the integrator's synchronous-exception handler
/// passes to `wrt_baremetal_sync_exception`, and the three saved words it must
/// write back into its exception frame when the call returns 1.
#[cfg(wrt_os = "baremetal")]
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct wrt_baremetal_exception {
    /// ESR_EL1 of the exception (in).
    pub esr: u64,
    /// FAR_EL1 of the exception (in).
    pub far: u64,
    /// The stack pointer of the interrupted code (in): SP_EL1 before the
    /// handler pushed its frame (EL1h code), or SP_EL0.
    pub sp: u64,
    /// The saved ELR_EL1 (in; out when handled: where to `eret` to).
    pub elr: u64,
    /// The saved SPSR_EL1 (in; out when handled: BTYPE cleared).
    pub spsr: u64,
    /// The saved x0 (out when handled).
    pub x0: u64,
}

/// Bare metal EL1: the helper's part of the integrator's
/// synchronous-exception handler. Call it from the handler of the vector
/// entries of the EL that runs Wasm code (current EL with SP_ELx, or SP_EL0,
/// or lower EL AArch64), after saving the interrupted registers, with
/// ESR_EL1, FAR_EL1, the interrupted SP and the saved ELR_EL1, SPSR_EL1.
///
/// Returns 1 when the exception is a trap of the calling context's
/// innermost `wrt_call`: a data abort (translation, access flag or
/// permission fault) at an address at or past a live memory's current
/// size, inside its reservation, outside the helper's own code. The trap
/// is recorded for `wrt_call` (which returns `WRT_TRAP_OUT_OF_BOUNDS` with
/// `address` = FAR_EL1, `pc` = ELR_EL1, the memory and offset, `signal`
/// 0), and `e->elr`, `e->spsr`, `e->x0` are rewritten: the handler writes
/// them back into its saved frame, restores it as usual and `eret`s (the
/// helper's resume routine then moves SP to the `wrt_call` frame).
///
/// Returns 0 for anything else, changing nothing: the fault is the
/// integrator's, to handle as it would without the helper (never
/// swallowed). `WRT_E_NULL` for a NULL `e`. 0 also before `wrt_trap_init`.
///
/// A fault only happens if the integrator's translation tables make the
/// inaccessible parts of memories invalid: see
/// `wrt_baremetal_set_protect_hook`. Contexts are told apart by
/// `TPIDR_EL0`, which the helper only reads: each core's main flow and each
/// thread of a scheduler needs its own value while it runs. Runs in the
/// exception handler: lock-free, no allocation, no system register write.
/// Defined only by the bare-metal archive.
///
/// # Safety
/// `e` is NULL or valid for reads and writes; it describes the synchronous
/// exception being handled on this core, taken from the context that is
/// resumed by the handler's `eret`.
#[cfg(wrt_os = "baremetal")]
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wrt_baremetal_sync_exception(e: *mut wrt_baremetal_exception) -> i32 {
    // SAFETY: NULL or valid (caller).
    match unsafe { e.as_mut() } {
        Some(e) => crate::trap::os::sync_exception(e),
        None => super::WRT_E_NULL as i32,
    }
}
