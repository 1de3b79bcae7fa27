// Bulk byte operations for memory.fill / memory.copy, aarch64 Mach-O (Apple arm64 ABI).
//
// Why assembly: the helper must not depend on libc's memset/memmove (a
// -nostdlib link must succeed), and Rust's core::ptr::{write_bytes,copy}
// lower to calls to exactly those symbols. The names are wrt-private and
// hidden, so they never interpose on a program's own memset/memmove.
// Leaf functions: LR is never spilled, so there is nothing to sign (no
// paciasp/autiasp); each starts with `bti c` so it is a valid target of an
// indirect call on pages mapped with PROT_BTI (a NOP on cores without BTI).
// Unaligned ldp/stp/ldrb are used: fine on Normal memory (user space).
// Included by arch/mem.rs with global_asm!(include_str!(..), options(raw)).

    .text
    // Mach-O: C symbols carry a leading underscore; .private_extern is
    // ELF's .hidden; there is no .type/.size.
    // One atom (as in trap.s): the object has .subsections_via_symbols, so
    // every symbol after _wrt_arch_memset is an `.alt_entry` of it; ld64
    // keeps the routines contiguous and in this order, and the `adr`s of
    // _wrt_arch_mem_bounds are resolved by the assembler.

// void *wrt_arch_memset(void *dst, int value, size_t n)
//   in:  x0 = dst, w1 = value (low byte used), x2 = n
//   out: x0 = dst (unchanged)
//   clobbers: x1, x2, x3, x4, flags
    .globl  _wrt_arch_memset
    .private_extern _wrt_arch_memset
    .p2align 4
_wrt_arch_memset:
Lmem_text_start:
    bti     c
    mov     x3, x0                      // x3 = cursor
    and     w1, w1, #0xff               // the byte, zero-extended into x1
    mov     x4, #0x0101010101010101
    mul     x4, x4, x1                  // x4 = the byte in all 8 lanes
Lset16:
    cmp     x2, #16
    b.lo    Lset1
    stp     x4, x4, [x3], #16           // 16 bytes, post-increment
    sub     x2, x2, #16
    b       Lset16
Lset1:
    cbz     x2, Lset_done
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       Lset1
Lset_done:
    ret

// void *wrt_arch_memmove(void *dst, const void *src, size_t n)
//   in:  x0 = dst, x1 = src, x2 = n
//   out: x0 = dst (unchanged)
//   clobbers: x1, x2, x3, x4, x5, flags
// Forward 16 bytes at a time when dst <= src or the ranges do not overlap;
// otherwise backward from the end. Each ldp reads a whole block before the
// stp writes it, so an overlap shorter than a block is safe either way.
    .globl  _wrt_arch_memmove
    .private_extern _wrt_arch_memmove
    .alt_entry _wrt_arch_memmove
    .p2align 4
_wrt_arch_memmove:
    bti     c
    mov     x3, x0                      // x3 = dst cursor
    cmp     x0, x1
    b.ls    Lfwd16                     // dst <= src: forward is safe
    add     x4, x1, x2                  // x4 = src + n
    cmp     x0, x4
    b.hs    Lfwd16                     // dst >= src + n: no overlap
    add     x1, x1, x2                  // backward: cursors at the ends
    add     x3, x0, x2
Lback16:
    cmp     x2, #16
    b.lo    Lback1
    ldp     x4, x5, [x1, #-16]!         // pre-decrement, read 16
    stp     x4, x5, [x3, #-16]!         // then write 16
    sub     x2, x2, #16
    b       Lback16
Lback1:
    cbz     x2, Lmove_done
    ldrb    w4, [x1, #-1]!
    strb    w4, [x3, #-1]!
    sub     x2, x2, #1
    b       Lback1
Lfwd16:
    cmp     x2, #16
    b.lo    Lfwd1
    ldp     x4, x5, [x1], #16           // read 16, post-increment
    stp     x4, x5, [x3], #16
    sub     x2, x2, #16
    b       Lfwd16
Lfwd1:
    cbz     x2, Lmove_done
    ldrb    w4, [x1], #1
    strb    w4, [x3], #1
    sub     x2, x2, #1
    b       Lfwd1
Lmove_done:
    ret
Lmem_text_end:

// struct { uintptr_t start, end; } wrt_arch_mem_bounds(void)
//   out: x0 = wrt_arch_memset, x1 = one past the end of wrt_arch_memmove
//   clobbers: nothing else (leaf)
// For the trap handler (src/trap/mod.rs `in_helper`): a fault inside these
// two routines is a fault in the helper's own code (a wrt_memory_fill/copy
// racing a reset), never a Wasm trap, so it is never unwound.
    .globl  _wrt_arch_mem_bounds
    .private_extern _wrt_arch_mem_bounds
    .alt_entry _wrt_arch_mem_bounds
    .p2align 4
_wrt_arch_mem_bounds:
    bti     c
    adr     x0, Lmem_text_start
    adr     x1, Lmem_text_end
    ret
