// Trap entry and resume for AOT code, aarch64 ELF (AAPCS64).
//
// Why assembly: `wrt_call` must save exactly the callee-saved registers and
// give the trap machinery one stack address (the frame) and one instruction
// (`wrt_trap_resume`, a BTI landing pad) from which the call can be finished
// as if `fn` had returned. Rust cannot express a function that is resumed
// from a signal handler or a non-local exit; here every register is explicit.
// Included by src/trap/mod.rs with global_asm!(include_str!(..), options(raw)).
//
// BTI: every routine starts with a landing pad (`bti c` for calls,
// `bti jc` for wrt_trap_resume, which is reached by a branch or by
// rt_sigreturn with PSTATE.BTYPE cleared, and wrt_trap_unwind, reached by a
// branch or by `eret` with SPSR.BTYPE cleared). PAC: wrt_call spills LR and signs
// it (`paciasp` at entry, `autiasp` before `ret`, both with the entry SP,
// which the resume path restores before authenticating). No
// .note.gnu.property is emitted here (see asm/README.md).
//
// Frame (on wrt_call's stack; src/trap/mod.rs `Frame` mirrors the first
// 32 bytes and pins the offsets). SP = frame, 16-byte aligned:
//   [sp +   0] prev   innermost older frame of this thread (or 0)
//   [sp +   8] head   &slot.head of this thread's chain (written by wrt_trap_push)
//   [sp +  16] info   the caller's wrt_trap_info * (may be 0)
//   [sp +  24] code   trap code, written before a resume by wrt_trap_raise
//   [sp +  32] x19, x20 ... [sp + 96] x27, x28
//   [sp + 112] d8, d9 ... [sp + 160] d14, d15   (the low 64 bits are callee-saved)
//   [sp + 176] x29, x30 (x30 signed with the entry SP = sp + 192)
// FPCR is not saved (as setjmp does not): Wasm code never changes it, and a
// signal resume restores it from the interrupted context.

    .text
    .p2align 4
.Ltrap_text_start:

// int32_t wrt_call(void (*fn)(void *ctx), void *ctx, wrt_trap_info *info)
//   in:  x0 = fn, x1 = ctx, x2 = info
//   out: w0 = WRT_OK (fn returned), WRT_E_NULL (fn is NULL) or a WRT_E_*
//        code from wrt_trap_push (fn not run), or a positive WRT_TRAP_* code
//        (resumed at wrt_trap_resume)
//   saves and restores: x19-x29, x30 (signed), d8-d15, sp
//   clobbers: everything the ABI lets a call clobber
    .globl  wrt_call
    .type   wrt_call, @function
wrt_call:
    bti     c
    paciasp                             // sign LR with the entry SP
    stp     x29, x30, [sp, #-16]!
    mov     x29, sp
    sub     sp, sp, #176
    stp     x19, x20, [sp, #32]
    stp     x21, x22, [sp, #48]
    stp     x23, x24, [sp, #64]
    stp     x25, x26, [sp, #80]
    stp     x27, x28, [sp, #96]
    stp     d8, d9, [sp, #112]
    stp     d10, d11, [sp, #128]
    stp     d12, d13, [sp, #144]
    stp     d14, d15, [sp, #160]
    str     x2, [sp, #16]               // frame.info
    mov     x19, x0                     // fn, kept across the call below
    mov     x20, x1                     // ctx
    mov     w0, #-1                     // WRT_E_NULL
    cbz     x19, .Lcall_out             // fn == NULL
    mov     x0, sp                      // wrt_trap_push(frame): links it
    bl      wrt_trap_push               // into this thread's chain
    cbnz    w0, .Lcall_out              // not linked: return its WRT_E_* code
    mov     x0, x20
    blr     x19                         // fn(ctx)
    ldp     x9, x10, [sp]               // frame.prev, frame.head
    str     x9, [x10]                   // unlink: *head = prev
    mov     w0, #0                      // WRT_OK
.Lcall_out:
    ldp     x19, x20, [sp, #32]
    ldp     x21, x22, [sp, #48]
    ldp     x23, x24, [sp, #64]
    ldp     x25, x26, [sp, #80]
    ldp     x27, x28, [sp, #96]
    ldp     d8, d9, [sp, #112]
    ldp     d10, d11, [sp, #128]
    ldp     d12, d13, [sp, #144]
    ldp     d14, d15, [sp, #160]
    add     sp, sp, #176
    ldp     x29, x30, [sp], #16         // sp = entry SP again
    autiasp                             // authenticate LR with it
    ret
    .size   wrt_call, . - wrt_call

// wrt_trap_resume: not called; a trap lands here.
//   in:  sp = the frame of the wrt_call being ended (already unlinked, info
//        already written), w0 = the WRT_TRAP_* code
//   then: wrt_call's own epilogue restores x19-x30, d8-d15 and returns w0
// Reached by the signal handler rewriting PC/SP/x0 (and clearing
// PSTATE.BTYPE) in the interrupted context, or by wrt_trap_raise's `b`.
    .globl  wrt_trap_resume
    .hidden wrt_trap_resume
    .type   wrt_trap_resume, @function
    .p2align 4
wrt_trap_resume:
    bti     jc
    b       .Lcall_out
    .size   wrt_trap_resume, . - wrt_trap_resume

// _Noreturn void wrt_trap_raise(int32_t code)
//   in:  w0 = code; x30 = the return address (reported as the trap's pc)
//   out: never returns; resumes the innermost wrt_call of this thread with
//        the code wrt_trap_raise_at chose (codes <= 0 are replaced)
//   clobbers: everything (the frames below the wrt_call frame are dropped)
// LR is overwritten by the `bl` but never spilled or returned through, so
// there is nothing to sign. Outside any wrt_call: `udf` (SIGILL).
    .globl  wrt_trap_raise
    .type   wrt_trap_raise, @function
    .p2align 4
wrt_trap_raise:
    bti     c
    mov     x1, x30                     // pc = return address of the caller
    bl      wrt_trap_raise_at           // x0 = the unlinked frame, or 0
    cbnz    x0, wrt_trap_unwind
    udf     #0
    .size   wrt_trap_raise, . - wrt_trap_raise

// wrt_trap_unwind: not called; resumes an unlinked wrt_call frame.
//   in:  x0 = the frame (already unlinked, info written, frame.code set)
//   out: never returns here: continues at wrt_trap_resume with sp = the
//        frame and w0 = frame.code
//   clobbers: sp, w0 (the frames below the wrt_call frame are dropped)
// Reached by wrt_trap_raise's branch, and on bare metal EL1 by `eret` from
// the integrator's synchronous-exception vector after
// wrt_baremetal_sync_exception set ELR_EL1 here, x0 to the frame and cleared
// SPSR.BTYPE (src/trap/baremetal.rs): an exception return cannot set the
// stack pointer of the code it returns to, this routine does.
    .globl  wrt_trap_unwind
    .hidden wrt_trap_unwind
    .type   wrt_trap_unwind, @function
    .p2align 4
wrt_trap_unwind:
    bti     jc
    mov     sp, x0                      // drop every frame below wrt_call's
    ldr     w0, [sp, #24]               // frame.code
    b       wrt_trap_resume
    .size   wrt_trap_unwind, . - wrt_trap_unwind

// void wrt_trap_restorer(void)  -- the sa_restorer of our signal handlers
//   in:  sp = the kernel's rt_sigframe (reached by the handler's `ret` to x30)
//   out: never returns here: rt_sigreturn reloads the (possibly rewritten)
//        context, signal mask and alternate-stack state
// `bti c` is a NOP here (reached by `ret`, which sets no BTYPE); it keeps
// the rule that every exported routine starts with a landing pad.
    .globl  wrt_trap_restorer
    .hidden wrt_trap_restorer
    .type   wrt_trap_restorer, @function
    .p2align 4
wrt_trap_restorer:
    bti     c
    mov     x8, #139                    // __NR_rt_sigreturn
    svc     #0
    udf     #0                          // rt_sigreturn does not return
    .size   wrt_trap_restorer, . - wrt_trap_restorer

.Ltrap_text_end:

// struct { uintptr_t start, end; } wrt_trap_text_bounds(void)
//   out: x0 = the first byte of this file's code, x1 = one past its last
//   clobbers: nothing else (leaf)
// The handler never turns a fault at a pc in [start, end) into a trap.
    .globl  wrt_trap_text_bounds
    .hidden wrt_trap_text_bounds
    .type   wrt_trap_text_bounds, @function
    .p2align 4
wrt_trap_text_bounds:
    bti     c
    adr     x0, .Ltrap_text_start
    adr     x1, .Ltrap_text_end
    ret
    .size   wrt_trap_text_bounds, . - wrt_trap_text_bounds
