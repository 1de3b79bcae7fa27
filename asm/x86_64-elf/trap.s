// Trap entry and resume for AOT code, x86_64 ELF (System V).
//
// Why assembly: `wrt_call` must save exactly the callee-saved registers and
// give the trap machinery one stack address (the frame) and one instruction
// (`wrt_trap_resume`) from which the call can be finished as if `fn` had
// returned. Rust cannot express a function that is resumed from a signal
// handler or a non-local exit; here every register is explicit.
// Included by src/trap/mod.rs with global_asm!(include_str!(..), options(raw));
// rustc assembles it in Intel syntax.
//
// Frame (on wrt_call's stack, 40 bytes at rsp; src/trap/mod.rs `Frame`
// mirrors it and pins the offsets):
//   [rsp +  0] prev   innermost older frame of this thread (or 0)
//   [rsp +  8] head   &slot.head of this thread's chain (written by wrt_trap_push)
//   [rsp + 16] info   the caller's wrt_trap_info * (may be 0)
//   [rsp + 24] code   trap code, written before a resume by wrt_trap_raise
//   [rsp + 32] (padding to keep rsp 16-byte aligned)
//   [rsp + 40] r15, r14, r13, r12, rbx, rbp (pushed), then the return address
// MXCSR and the x87 control word are not saved (as setjmp does not): Wasm
// code never changes them, and a trap from a signal restores them from the
// interrupted context (rt_sigreturn, or wrt_trap_leave).

    .text
    .p2align 4
.Ltrap_text_start:

// int32_t wrt_call(void (*fn)(void *ctx), void *ctx, wrt_trap_info *info)
//   in:  rdi = fn, rsi = ctx, rdx = info
//   out: eax = WRT_OK (fn returned), WRT_E_NULL (fn is NULL) or a WRT_E_*
//        code from wrt_trap_push (fn not run), or a positive WRT_TRAP_* code (resumed at wrt_trap_resume)
//   saves and restores: rbx, rbp, r12-r15 (the callee-saved registers), rsp
//   clobbers: everything the ABI lets a call clobber
// Entry rsp = 8 mod 16; after 6 pushes and 40 bytes it is 0 mod 16, as the
// calls below need.
    .globl  wrt_call
    .type   wrt_call, @function
wrt_call:
    push    rbp
    push    rbx
    push    r12
    push    r13
    push    r14
    push    r15
    sub     rsp, 40
    mov     r12, rdi                    // fn, kept across the call below
    mov     r13, rsi                    // ctx
    mov     qword ptr [rsp + 16], rdx   // frame.info
    mov     eax, -1                     // WRT_E_NULL
    test    r12, r12
    jz      .Lcall_out                  // fn == NULL
    mov     rdi, rsp                    // wrt_trap_push(frame): links it
    call    wrt_trap_push               // into this thread's chain
    test    eax, eax
    jnz     .Lcall_out                  // not linked: return its WRT_E_* code
    mov     rdi, r13
    call    r12                         // fn(ctx)
    mov     rcx, qword ptr [rsp + 8]    // frame.head
    mov     rdx, qword ptr [rsp]        // frame.prev
    mov     qword ptr [rcx], rdx        // unlink: *head = prev
    xor     eax, eax                    // WRT_OK
.Lcall_out:
    add     rsp, 40
    pop     r15
    pop     r14
    pop     r13
    pop     r12
    pop     rbx
    pop     rbp
    ret
    .size   wrt_call, . - wrt_call

// wrt_trap_resume: not called; a trap lands here.
//   in:  rsp = the frame of the wrt_call being ended (already unlinked, info
//        already written), eax = the WRT_TRAP_* code
//   then: wrt_call's own epilogue restores rbx, rbp, r12-r15 and returns eax
// Reached from the signal handler by wrt_trap_leave's `jmp`, or by its
// rewriting RIP/RSP/RAX in the interrupted context (rt_sigreturn then
// loads them), or by wrt_trap_raise's `jmp`.
    .globl  wrt_trap_resume
    .hidden wrt_trap_resume
    .type   wrt_trap_resume, @function
    .p2align 4
wrt_trap_resume:
    jmp     .Lcall_out
    .size   wrt_trap_resume, . - wrt_trap_resume

// _Noreturn void wrt_trap_raise(int32_t code)
//   in:  edi = code; [rsp] = the return address (reported as the trap's pc)
//   out: never returns; resumes the innermost wrt_call of this thread with
//        the code wrt_trap_raise_at chose (codes <= 0 are replaced)
//   clobbers: everything (the frames below the wrt_call frame are dropped)
// Outside any wrt_call there is nothing to unwind to: `ud2` (SIGILL).
    .globl  wrt_trap_raise
    .type   wrt_trap_raise, @function
    .p2align 4
wrt_trap_raise:
    mov     rsi, qword ptr [rsp]        // pc = return address of the caller
    sub     rsp, 8                      // 16-byte alignment for the call
    call    wrt_trap_raise_at           // rax = the unlinked frame, or 0
    test    rax, rax
    jz      .Lraise_orphan
    mov     rsp, rax                    // drop every frame below wrt_call's
    mov     eax, dword ptr [rsp + 24]   // frame.code
    jmp     wrt_trap_resume
.Lraise_orphan:
    ud2
    .size   wrt_trap_raise, . - wrt_trap_raise

// void wrt_trap_handler(int sig, siginfo_t *info, void *uc)  -- our sa_handler
//   in:  edi = sig, rsi = info, rdx = uc (SA_SIGINFO); [rsp] = the return
//        address: wrt_trap_restorer when the kernel delivered the signal to
//        our own action, another address when a handler installed after
//        ours called us
//   out: tail-calls wrt_trap_signal(sig, info, uc, rcx = that address),
//        which returns to it, or leaves through wrt_trap_leave
//   clobbers: rcx, then what wrt_trap_signal clobbers (a C function)
// Entry rsp = 8 mod 16, as at any call; the `jmp` keeps it so.
    .globl  wrt_trap_handler
    .hidden wrt_trap_handler
    .type   wrt_trap_handler, @function
    .p2align 4
wrt_trap_handler:
    mov     rcx, qword ptr [rsp]        // who called us
    jmp     wrt_trap_signal
    .size   wrt_trap_handler, . - wrt_trap_handler

// _Noreturn void wrt_trap_leave(Frame *frame, int32_t code, const void *fx)
//   in:  rdi = the wrt_call frame to resume (already unlinked, info
//        already written), esi = the WRT_TRAP_* code, rdx = the interrupted
//        code's FXSAVE area (the signal frame's uc_mcontext.fpregs)
//   out: never returns: continues at wrt_trap_resume with rsp = the frame
//        and eax = the code, as rt_sigreturn of a rewritten context would
//   restores: MXCSR (fx + 24) and the x87 control word (fx + 0) of the
//        interrupted code, which the kernel reset for the handler; the
//        rest of the FP/vector state is caller-saved
//   clobbers: rsp, eax (our handler's frames and the kernel's signal frame,
//        all below the wrt_call frame, are dropped)
// The direct exit of the x86_64 signal handler (src/trap/linux.rs says when
// it is taken and why it leaves the mask and the alternate stack right).
    .globl  wrt_trap_leave
    .hidden wrt_trap_leave
    .type   wrt_trap_leave, @function
    .p2align 4
wrt_trap_leave:
    ldmxcsr dword ptr [rdx + 24]
    fldcw   word ptr [rdx]
    mov     rsp, rdi
    mov     eax, esi
    jmp     wrt_trap_resume
    .size   wrt_trap_leave, . - wrt_trap_leave

// void wrt_trap_restorer(void)  -- the sa_restorer of our signal handlers
//   in:  rsp = the kernel's rt_sigframe (the handler's `ret` popped the
//        restorer's address from frame+0)
//   out: never returns here: rt_sigreturn reloads the (possibly rewritten)
//        context, signal mask and alternate-stack state
// Reached when wrt_trap_signal returns: a signal that was not a trap, or a
// trap that could not leave through wrt_trap_leave.
// Mandatory on x86_64 (no vDSO fallback). Same bytes as musl's __restore_rt.
    .globl  wrt_trap_restorer
    .hidden wrt_trap_restorer
    .type   wrt_trap_restorer, @function
    .p2align 4
wrt_trap_restorer:
    mov     eax, 15                     // __NR_rt_sigreturn
    syscall
    ud2                                 // rt_sigreturn does not return
    .size   wrt_trap_restorer, . - wrt_trap_restorer

.Ltrap_text_end:

// struct { uintptr_t start, end; } wrt_trap_text_bounds(void)
//   out: rax = the first byte of this file's code, rdx = one past its last
//   clobbers: nothing else
// The handler never turns a fault at a pc in [start, end) into a trap.
    .globl  wrt_trap_text_bounds
    .hidden wrt_trap_text_bounds
    .type   wrt_trap_text_bounds, @function
    .p2align 4
wrt_trap_text_bounds:
    lea     rax, [rip + .Ltrap_text_start]
    lea     rdx, [rip + .Ltrap_text_end]
    ret
    .size   wrt_trap_text_bounds, . - wrt_trap_text_bounds
