// Bulk byte operations for memory.fill / memory.copy, x86_64 ELF (System V).
//
// Why assembly: the helper must not depend on libc's memset/memmove (a
// -nostdlib link must succeed), and Rust's core::ptr::{write_bytes,copy}
// lower to calls to exactly those symbols. The names are wrt-private and
// hidden, so they never interpose on a program's own memset/memmove.
// Included by arch/mem.rs with global_asm!(include_str!(..), options(raw));
// rustc assembles it in Intel syntax.

    .text

// void *wrt_arch_memset(void *dst, int value, size_t n)
//   in:  rdi = dst, esi = value (low byte used), rdx = n
//   out: rax = dst
//   clobbers: rcx, rdi, r8, flags (DF stays clear, as the ABI requires)
// `rep stosb` is the fast-strings path (ERMS) on every CPU since Ivy Bridge.
    .globl  wrt_arch_memset
    .hidden wrt_arch_memset
    .type   wrt_arch_memset, @function
    .p2align 4
wrt_arch_memset:
    mov     r8, rdi             // keep dst for the return value
    mov     rcx, rdx            // count
    movzx   eax, sil            // the byte to store
    rep     stosb               // store al to [rdi], rcx times, forward
    mov     rax, r8
    ret
    .size   wrt_arch_memset, . - wrt_arch_memset

// void *wrt_arch_memmove(void *dst, const void *src, size_t n)
//   in:  rdi = dst, rsi = src, rdx = n
//   out: rax = dst
//   clobbers: rcx, rdx, rsi, rdi, r8, flags (DF stays clear)
// Forward with `rep movsb` when dst <= src or the ranges do not overlap
// (architecturally a sequence of byte moves, so dst < src overlap is safe);
// otherwise backward, 8 bytes at a time from the end, then the odd head
// bytes (backward `rep movsb` with DF=1 is slow on every CPU).
    .globl  wrt_arch_memmove
    .hidden wrt_arch_memmove
    .type   wrt_arch_memmove, @function
    .p2align 4
wrt_arch_memmove:
    mov     rax, rdi            // return value
    cmp     rdi, rsi
    jbe     .Lmove_forward      // dst <= src: forward never reads a clobbered byte
    lea     r8, [rsi + rdx]     // r8 = src + n
    cmp     rdi, r8
    jae     .Lmove_forward      // dst >= src + n: no overlap
.Lmove_back8:                   // dst > src, overlapping: copy from the end
    cmp     rdx, 8
    jb      .Lmove_back1
    sub     rdx, 8
    mov     r8, [rsi + rdx]     // read the whole qword before writing it
    mov     [rdi + rdx], r8
    jmp     .Lmove_back8
.Lmove_back1:
    test    rdx, rdx
    jz      .Lmove_done
    dec     rdx
    movzx   r8d, byte ptr [rsi + rdx]
    mov     [rdi + rdx], r8b
    jmp     .Lmove_back1
.Lmove_forward:
    mov     rcx, rdx
    rep     movsb               // [rdi++] = [rsi++], rcx times
.Lmove_done:
    ret
    .size   wrt_arch_memmove, . - wrt_arch_memmove
.Lmem_text_end:

// struct { uintptr_t start, end; } wrt_arch_mem_bounds(void)
//   out: rax = wrt_arch_memset, rdx = one past the end of wrt_arch_memmove
//   clobbers: nothing else
// For the trap handler (src/trap/mod.rs `in_helper`): a fault inside these
// two routines is a fault in the helper's own code (a wrt_memory_fill/copy
// racing a reset), never a Wasm trap, so it is never unwound.
    .globl  wrt_arch_mem_bounds
    .hidden wrt_arch_mem_bounds
    .type   wrt_arch_mem_bounds, @function
    .p2align 4
wrt_arch_mem_bounds:
    lea     rax, [rip + wrt_arch_memset]
    lea     rdx, [rip + .Lmem_text_end]
    ret
    .size   wrt_arch_mem_bounds, . - wrt_arch_mem_bounds
