// Trap entry and resume for AOT code, aarch64 Mach-O (Apple arm64 ABI).
// BUILT AND CHECKED (scripts/check-macos disassembles it); NOT EXECUTED.
//
// The same routines, frame and register discipline as asm/aarch64-elf/trap.s
// (read that file's header first), plus the signal trampoline that XNU
// enters instead of a Linux-style sa_restorer. Included by src/trap/mod.rs
// with global_asm!(include_str!(..), options(raw)).
//
// Mach-O spelling: C symbols carry a leading underscore; .private_extern is
// ELF's .hidden; there is no .type/.size; assembler-local labels start with
// `L`. x18 is reserved by the platform and never touched.
//
// One atom: the object is emitted with .subsections_via_symbols, so every
// non-local symbol would start an "atom" that ld64 may move or dead-strip
// on its own. Every symbol after the first is therefore an `.alt_entry` of
// the first: the file is one atom, its code stays contiguous in the order
// written (so [Ltrap_text_start, Ltrap_text_end) is exactly these routines)
// and the `adr`s below are resolved by the assembler (an `adr` to another
// atom has no Mach-O relocation).
//
// BTI / PAC as in the ELF file: `bti c` / `bti jc` landing pads (NOPs on
// cores or processes without BTI), wrt_call signs the LR it spills with
// `paciasp` and authenticates it with the same SP (`autiasp`). For the
// arm64 slice (not arm64e) the kernel's thread state holds raw pc/lr
// (flags NO_PTRAUTH); src/trap/macos.rs refuses to redirect a context whose
// pc the kernel signed (arm64e), see there.
//
// Frame (on wrt_call's stack; src/trap/mod.rs `Frame` pins the first 32
// bytes). SP = frame, 16-byte aligned:
//   [sp +   0] prev   innermost older frame of this thread (or 0)
//   [sp +   8] head   &slot.head of this thread's chain (written by wrt_trap_push)
//   [sp +  16] info   the caller's wrt_trap_info * (may be 0)
//   [sp +  24] code   trap code, written before a resume by wrt_trap_raise
//   [sp +  32] x19, x20 ... [sp + 96] x27, x28
//   [sp + 112] d8, d9 ... [sp + 160] d14, d15   (the low 64 bits are callee-saved)
//   [sp + 176] x29, x30 (x30 signed with the entry SP = sp + 192)

    .text
    .p2align 4

// int32_t wrt_call(void (*fn)(void *ctx), void *ctx, wrt_trap_info *info)
//   in:  x0 = fn, x1 = ctx, x2 = info
//   out: w0 = WRT_OK (fn returned), WRT_E_NULL (fn is NULL) or a WRT_E_*
//        code from wrt_trap_push (fn not run), or a positive WRT_TRAP_* code
//        (resumed at wrt_trap_resume)
//   saves and restores: x19-x29, x30 (signed), d8-d15, sp
//   clobbers: everything the ABI lets a call clobber (x0-x17, d0-d7,
//             d16-d31, v8-v15 high halves, flags)
    .globl  _wrt_call
_wrt_call:
Ltrap_text_start:
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
    cbz     x19, Lcall_out              // fn == NULL
    mov     x0, sp                      // wrt_trap_push(frame): links it
    bl      _wrt_trap_push              // into this thread's chain
    cbnz    w0, Lcall_out               // not linked: return its WRT_E_* code
    mov     x0, x20
    blr     x19                         // fn(ctx)
    ldp     x9, x10, [sp]               // frame.prev, frame.head
    str     x9, [x10]                   // unlink: *head = prev
    mov     w0, #0                      // WRT_OK
Lcall_out:
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

// wrt_trap_resume: not called; a trap lands here.
//   in:  sp = the frame of the wrt_call being ended (already unlinked, info
//        already written), w0 = the WRT_TRAP_* code
//   then: wrt_call's own epilogue restores x19-x30, d8-d15 and returns w0
// Reached by the signal handler rewriting pc/sp/x0 in the interrupted
// thread state (and clearing CPSR.BTYPE) before `sigreturn`, or by
// wrt_trap_raise's `b`.
    .globl  _wrt_trap_resume
    .private_extern _wrt_trap_resume
    .alt_entry _wrt_trap_resume
    .p2align 4
_wrt_trap_resume:
    bti     jc
    b       Lcall_out

// _Noreturn void wrt_trap_raise(int32_t code)
//   in:  w0 = code; x30 = the return address (reported as the trap's pc)
//   out: never returns; resumes the innermost wrt_call of this thread with
//        the code wrt_trap_raise_at chose (codes <= 0 are replaced)
//   clobbers: everything (the frames below the wrt_call frame are dropped)
// LR is overwritten by the `bl` but never spilled or returned through, so
// there is nothing to sign. Outside any wrt_call: `udf` (SIGILL).
    .globl  _wrt_trap_raise
    .alt_entry _wrt_trap_raise
    .p2align 4
_wrt_trap_raise:
    bti     c
    mov     x1, x30                     // pc = return address of the caller
    bl      _wrt_trap_raise_at          // x0 = the unlinked frame, or 0
    cbz     x0, Lraise_orphan
    mov     sp, x0                      // drop every frame below wrt_call's
    ldr     w0, [sp, #24]               // frame.code
    b       _wrt_trap_resume
Lraise_orphan:
    udf     #0

// void wrt_trap_tramp(handler, infostyle, signo, siginfo, ucontext, token)
//   -- the sa_tramp of our sigaction(2) calls (XNU's "signal trampoline")
//   in (XNU bsd/dev/arm/unix_signal.c `sendsig`, which sets pc = sa_tramp):
//        x0 = the handler (sa_handler / sa_sigaction of the action),
//        w1 = infostyle: UC_FLAVOR (30) for SA_SIGINFO actions, else UC_TRAD (1),
//        w2 = signo, x3 = &siginfo, x4 = &ucontext (its uc_mcontext points
//        at the 816-byte mcontext64 in the same frame), x5 = the sigreturn
//        token (per-thread secret XOR the ucontext address),
//        sp = the signal frame (16-byte aligned, on the alternate stack
//        when SA_ONSTACK and one is set); every other register, x30
//        included, is the interrupted code's, so this routine never returns.
//   does: handler(signo, siginfo, ucontext); then
//        sigreturn(ucontext, UC_FLAVOR, token) = syscall 184 (x16) through
//        `svc #0x80`, which reloads the (possibly rewritten) thread and NEON
//        state from uc_mcontext, the signal mask from uc_sigmask and the
//        on-alternate-stack flag from uc_onstack, and returns EJUSTRETURN to
//        the restored context (never here).
//   clobbers: x0-x17, x19-x21, v0-v31, flags: all restored by sigreturn from
//        the frame (they are the handler's to clobber too).
// As Apple's own trampoline (libplatform src/setjmp/generic/sigtramp.c
// `_sigtramp`): the handler is called with three arguments whatever the
// infostyle (our actions always have SA_SIGINFO; a one-argument handler we
// reinstall ignores x1/x2), and sigreturn always gets UC_FLAVOR and the
// token unchanged (so the kernel's token check, SA_VALIDATE_SIGRETURN_FROM_
// SIGTRAMP, passes). If sigreturn fails (a bad token or context), `udf`:
// the process dies of SIGILL instead of running on a dead frame.
// `bti c`: reached by the kernel's exception return, which sets no BTYPE;
// it keeps every exported routine starting with a landing pad.
    .globl  _wrt_trap_tramp
    .private_extern _wrt_trap_tramp
    .alt_entry _wrt_trap_tramp
    .p2align 4
_wrt_trap_tramp:
    bti     c
    mov     x19, x4                     // ucontext, kept across the call
    mov     x20, x5                     // token
    mov     x9, x0                      // handler
    mov     w0, w2                      // signo
    mov     x1, x3                      // siginfo
    mov     x2, x4                      // ucontext
    blr     x9                          // handler(signo, siginfo, ucontext)
    mov     x0, x19                     // uctx
    mov     w1, #30                     // UC_FLAVOR
    mov     x2, x20                     // token
    mov     x16, #184                   // SYS_sigreturn
    svc     #0x80
    udf     #0                          // sigreturn failed: SIGILL

Ltrap_text_end:

// struct { uintptr_t start, end; } wrt_trap_text_bounds(void)
//   out: x0 = the first byte of this file's code, x1 = one past the
//        trampoline (the end of every routine above)
//   clobbers: nothing else (leaf)
// The handler never turns a fault at a pc in [start, end) into a trap.
    .globl  _wrt_trap_text_bounds
    .private_extern _wrt_trap_text_bounds
    .alt_entry _wrt_trap_text_bounds
    .p2align 4
_wrt_trap_text_bounds:
    bti     c
    adr     x0, Ltrap_text_start
    adr     x1, Ltrap_text_end
    ret
