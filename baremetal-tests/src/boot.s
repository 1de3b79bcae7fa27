// Boot code, exception vectors and the exception frame for the bare-metal
// test image (qemu-system-aarch64 -M virt -cpu max -smp 4, entered at EL1).
// Included by src/rt.rs with global_asm!(include_str!(..), options(raw)).
//
// Why assembly: there is no stack and no MMU at entry, and an exception
// entry must save every register before any compiled code runs.
// Every global function starts with `bti c` (a NOP: the page tables set no
// GP bit, so branch targets are not enforced). None spills LR before
// leaving for good, so nothing is signed.

    .equ FRAME_SIZE, 800        // 31 GPRs, ELR, SPSR, TPIDR_EL0, FPCR, FPSR, q0-q31
    .equ FRAME_ELR, 248
    .equ FRAME_SPSR, 256
    .equ FRAME_TP, 264          // TPIDR_EL0: the context's key for wrt_call
    .equ FRAME_FP, 272          // FPCR, FPSR, then q0..q31 from +16
    .equ BOOT_STACK, 0x10000    // per core, see link.ld
    // MAIR_EL1: attr0 = Device-nGnRnE (0x00), attr1 = Normal WB RA/WA (0xff).
    .equ MAIR_VALUE, 0xff00
    // TCR_EL1: T0SZ = 25 (39-bit VA, walk starts at level 1), IRGN0 = ORGN0 =
    // write-back (1), SH0 = inner shareable (3), TG0 = 4 KiB, EPD1 (no TTBR1
    // walks), IPS = 36 bits.
    .equ TCR_VALUE, 0x100803519
    // SCTLR_EL1: the ARMv8.0 RES1 bits (11, 20, 22, 23, 28, 29) + M (MMU),
    // C (data cache), SA (SP alignment check), I (instruction cache).
    // A (alignment faults), WXN, EE, BT0/BT1, EnIx: off.
    .equ SCTLR_VALUE, 0x30d0180d

    .section .text.boot, "ax"

// void _start(void)  -- core 0, from QEMU's ELF loader, EL1, MMU off.
//   in:  nothing (x0 may hold a DTB address; ignored)
//   Zeroes .bss, then joins the common per-core path with x0 = 0.
    .globl  _start
    .type   _start, %function
_start:
    bti     c
    mov     x0, #0
    b       wrt_core_entry
    .size   _start, . - _start

// void wrt_secondary_entry(uint64_t core)  -- cores 1..3, from PSCI CPU_ON
// (the context id is the core index, in x0), EL1, MMU off.
    .globl  wrt_secondary_entry
    .type   wrt_secondary_entry, %function
wrt_secondary_entry:
    bti     c
    b       wrt_core_entry
    .size   wrt_secondary_entry, . - wrt_secondary_entry

// Per-core bring-up; x0 = core index (0..3), preserved until the call.
//   1. SP = top of this core's boot stack
//   2. FP/SIMD on at EL1 (CPACR_EL1.FPEN = 0b11): Rust code uses q registers
//   3. VBAR_EL1 = wrt_vectors
//   4. core 0 only: zero .bss (16 bytes at a time; link.ld aligns it)
//   5. MMU on with the identity map in wrt_page_table (src/rt.rs): RAM is
//      Normal write-back cacheable, so exclusives and unaligned accesses
//      behave; the first GiB (GIC, UART) is Device-nGnRnE.
//   6. wrt_rust_entry(core), which never returns.
//   clobbers: x1, x2 (and everything after the call)
    .type   wrt_core_entry, %function
wrt_core_entry:
    ldr     x1, =__boot_stacks_end
    mov     x2, #BOOT_STACK
    msub    x1, x0, x2, x1              // x1 = end - core * BOOT_STACK
    mov     sp, x1
    mov     x1, #(3 << 20)
    msr     cpacr_el1, x1
    ldr     x1, =wrt_vectors
    msr     vbar_el1, x1
    isb
    cbnz    x0, .Lmmu
    ldr     x1, =__bss_start
    ldr     x2, =__bss_end
.Lbss:
    cmp     x1, x2
    b.hs    .Lmmu
    stp     xzr, xzr, [x1], #16
    b       .Lbss
.Lmmu:
    ldr     x1, =MAIR_VALUE
    msr     mair_el1, x1
    ldr     x1, =TCR_VALUE
    msr     tcr_el1, x1
    ldr     x1, =wrt_page_table
    msr     ttbr0_el1, x1
    isb
    tlbi    vmalle1                     // no stale translations from firmware
    ic      iallu
    dsb     nsh
    isb
    ldr     x1, =SCTLR_VALUE
    msr     sctlr_el1, x1
    isb
    bl      wrt_rust_entry
.Lhang:
    wfi
    b       .Lhang
    .size   wrt_core_entry, . - wrt_core_entry

// SAVE_FRAME: pushes a FRAME_SIZE exception frame on SP_EL1.
//   layout: x0..x29 at 0..232, x30 at 240, ELR at 248, SPSR at 256,
//           TPIDR_EL0 at 264, FPCR/FPSR at 272/280, q0..q31 at 288..800
// TPIDR_EL0 is part of a thread's state here: the helper tells contexts
// apart by it (src/trap/baremetal.rs), so the context switch carries it.
//   clobbers: nothing visible (x0..x2 are saved before use)
    .macro SAVE_FRAME
    sub     sp, sp, #FRAME_SIZE
    stp     x0, x1, [sp, #0]
    stp     x2, x3, [sp, #16]
    stp     x4, x5, [sp, #32]
    stp     x6, x7, [sp, #48]
    stp     x8, x9, [sp, #64]
    stp     x10, x11, [sp, #80]
    stp     x12, x13, [sp, #96]
    stp     x14, x15, [sp, #112]
    stp     x16, x17, [sp, #128]
    stp     x18, x19, [sp, #144]
    stp     x20, x21, [sp, #160]
    stp     x22, x23, [sp, #176]
    stp     x24, x25, [sp, #192]
    stp     x26, x27, [sp, #208]
    stp     x28, x29, [sp, #224]
    mrs     x0, elr_el1
    stp     x30, x0, [sp, #240]
    mrs     x1, spsr_el1
    mrs     x2, tpidr_el0
    stp     x1, x2, [sp, #FRAME_SPSR]
    add     x0, sp, #FRAME_FP
    mrs     x1, fpcr
    mrs     x2, fpsr
    stp     x1, x2, [x0, #0]
    stp     q0, q1, [x0, #16]
    stp     q2, q3, [x0, #48]
    stp     q4, q5, [x0, #80]
    stp     q6, q7, [x0, #112]
    stp     q8, q9, [x0, #144]
    stp     q10, q11, [x0, #176]
    stp     q12, q13, [x0, #208]
    stp     q14, q15, [x0, #240]
    stp     q16, q17, [x0, #272]
    stp     q18, q19, [x0, #304]
    stp     q20, q21, [x0, #336]
    stp     q22, q23, [x0, #368]
    stp     q24, q25, [x0, #400]
    stp     q26, q27, [x0, #432]
    stp     q28, q29, [x0, #464]
    stp     q30, q31, [x0, #496]
    .endm

// RESTORE_FRAME: pops the frame at SP (possibly another thread's: the IRQ
// path switches SP first) and returns from the exception.
    .macro RESTORE_FRAME
    add     x0, sp, #FRAME_FP
    ldp     x1, x2, [x0, #0]
    msr     fpcr, x1
    msr     fpsr, x2
    ldp     q0, q1, [x0, #16]
    ldp     q2, q3, [x0, #48]
    ldp     q4, q5, [x0, #80]
    ldp     q6, q7, [x0, #112]
    ldp     q8, q9, [x0, #144]
    ldp     q10, q11, [x0, #176]
    ldp     q12, q13, [x0, #208]
    ldp     q14, q15, [x0, #240]
    ldp     q16, q17, [x0, #272]
    ldp     q18, q19, [x0, #304]
    ldp     q20, q21, [x0, #336]
    ldp     q22, q23, [x0, #368]
    ldp     q24, q25, [x0, #400]
    ldp     q26, q27, [x0, #432]
    ldp     q28, q29, [x0, #464]
    ldp     q30, q31, [x0, #496]
    ldp     x30, x0, [sp, #240]
    msr     elr_el1, x0
    ldp     x1, x2, [sp, #FRAME_SPSR]
    msr     spsr_el1, x1
    msr     tpidr_el0, x2
    ldp     x2, x3, [sp, #16]
    ldp     x4, x5, [sp, #32]
    ldp     x6, x7, [sp, #48]
    ldp     x8, x9, [sp, #64]
    ldp     x10, x11, [sp, #80]
    ldp     x12, x13, [sp, #96]
    ldp     x14, x15, [sp, #112]
    ldp     x16, x17, [sp, #128]
    ldp     x18, x19, [sp, #144]
    ldp     x20, x21, [sp, #160]
    ldp     x22, x23, [sp, #176]
    ldp     x24, x25, [sp, #192]
    ldp     x26, x27, [sp, #208]
    ldp     x28, x29, [sp, #224]
    ldp     x0, x1, [sp, #0]
    add     sp, sp, #FRAME_SIZE
    eret
    .endm

// An entry of the vector table that should never be taken: report which
// one (x0 = entry index, 0..15) through wrt_unexpected, which exits QEMU.
    .macro UNEXPECTED index
    .balign 0x80
    mov     x0, #\index
    b       wrt_unexpected
    .endm

// The EL1 vector table (VBAR_EL1, 2 KiB aligned). The tests run in EL1h
// (SP_EL1), so only "current EL with SPx" synchronous (svc: the Zephyr
// fixture; anything else: a crash report) and IRQ (the timer tick) are
// expected; every other entry reports and exits.
    .section .text.vectors, "ax"
    .balign 2048
    .globl  wrt_vectors
wrt_vectors:
    UNEXPECTED 0                        // current EL, SP0: sync
    UNEXPECTED 1                        //                  IRQ
    UNEXPECTED 2                        //                  FIQ
    UNEXPECTED 3                        //                  SError
    .balign 0x80                        // current EL, SPx: sync
    b       wrt_sync_entry
    .balign 0x80                        //                  IRQ
    b       wrt_irq_entry
    UNEXPECTED 6                        //                  FIQ
    UNEXPECTED 7                        //                  SError
    UNEXPECTED 8                        // lower EL, AArch64
    UNEXPECTED 9
    UNEXPECTED 10
    UNEXPECTED 11
    UNEXPECTED 12                       // lower EL, AArch32
    UNEXPECTED 13
    UNEXPECTED 14
    UNEXPECTED 15

// Synchronous exception from EL1h: save everything, call
// `void wrt_sync(struct frame *)` (Rust: `svc` for the Zephyr fixture, a
// Wasm trap through wrt_baremetal_sync_exception, a fault a test expects, or a
// crash report and exit), return to the (possibly updated) frame. The
// interrupted SP is the frame's address + FRAME_SIZE.
    .type   wrt_sync_entry, %function
wrt_sync_entry:
    SAVE_FRAME
    mov     x0, sp
    bl      wrt_sync
    RESTORE_FRAME
    .size   wrt_sync_entry, . - wrt_sync_entry

// IRQ from EL1h: save everything on the interrupted stack, move to this
// core's interrupt stack (its top is in TPIDR_EL1, set by src/rt.rs), call
// `uintptr_t wrt_irq(uintptr_t sp)` (Rust: acknowledges the interrupt and
// may pick another thread), switch to the stack it returns, restore that
// frame. This is the context switch: every thread's state lives in the
// frame on its own stack. The handler must not run on the interrupted
// thread's stack: once the scheduler lock is released, another core may
// resume that thread and push onto the same stack.
    .type   wrt_irq_entry, %function
wrt_irq_entry:
    SAVE_FRAME
    mov     x0, sp
    mrs     x1, tpidr_el1
    mov     sp, x1
    bl      wrt_irq
    mov     sp, x0
    RESTORE_FRAME
    .size   wrt_irq_entry, . - wrt_irq_entry
