// Memory-tagging (MTE) operations, aarch64 ELF.
//
// Why assembly: Rust has no stable intrinsics for IRG/STG/ST2G/STZG/LDG,
// and inline asm would need the `mte` target feature on every caller; a
// global_asm file with `.arch_extension memtag` needs nothing from the
// crate's target features. Each routine is a leaf (LR never spilled, so no
// PAC pair) and starts with `bti c`. Only execute these where MTE exists
// (HWCAP2_MTE): on other cores they are undefined instructions (SIGILL).
//
// Pointers carry their logical tag in bits 59:56. Allocation tags cover
// 16-byte granules; every address and length below must be a multiple of
// 16 (the callers in src/os/linux/mte.rs check it).
// Included by arch/aarch64/mte.rs with global_asm!(include_str!(..), options(raw)).

    .arch_extension memtag
    .text

// void *wrt_mte_irg(void *p, uint64_t exclude)
//   in:  x0 = pointer, x1 = exclude mask (bit n set: never choose tag n)
//   out: x0 = the pointer with a random logical tag (GCR_EL1 and the
//        prctl include mask also restrict the choice)
//   clobbers: nothing else
    .globl  wrt_mte_irg
    .hidden wrt_mte_irg
    .type   wrt_mte_irg, %function
    .p2align 2
wrt_mte_irg:
    bti     c
    irg     x0, x0, x1          // insert a random tag not in x1's mask
    ret
    .size   wrt_mte_irg, . - wrt_mte_irg

// void *wrt_mte_ldg(const void *p)
//   in:  x0 = pointer (16-byte aligned)
//   out: x0 = the pointer with its logical tag replaced by the allocation
//        tag of the granule it points to
//   clobbers: nothing else
    .globl  wrt_mte_ldg
    .hidden wrt_mte_ldg
    .type   wrt_mte_ldg, %function
    .p2align 2
wrt_mte_ldg:
    bti     c
    ldg     x0, [x0]            // x0.tag = allocation tag at [x0]
    ret
    .size   wrt_mte_ldg, . - wrt_mte_ldg

// void wrt_mte_set_tags(void *p, size_t len)
//   in:  x0 = tagged pointer (16-byte aligned), x1 = len (multiple of 16)
//   effect: allocation tags of [p, p + len) := p's logical tag; data kept
//   clobbers: x1, x2, flags
// ST2G tags two granules (32 bytes) per store; a 16-byte tail uses STG.
    .globl  wrt_mte_set_tags
    .hidden wrt_mte_set_tags
    .type   wrt_mte_set_tags, %function
    .p2align 2
wrt_mte_set_tags:
    bti     c
    mov     x2, x0              // x2 = cursor; x0 stays the tag source
.Lset_tags32:
    cmp     x1, #32
    b.lo    .Lset_tags16
    st2g    x0, [x2], #32       // two granules, post-increment
    sub     x1, x1, #32
    b       .Lset_tags32
.Lset_tags16:
    cbz     x1, .Lset_tags_done
    stg     x0, [x2]            // the last granule
.Lset_tags_done:
    ret
    .size   wrt_mte_set_tags, . - wrt_mte_set_tags

// void wrt_mte_set_tags_zero(void *p, size_t len)
//   in:  x0 = tagged pointer (16-byte aligned), x1 = len (multiple of 16)
//   effect: tags of [p, p + len) := p's logical tag, and the data := 0
//   clobbers: x1, x2, flags
// STZ2G / STZG tag and zero in one store. (DC GZVA would do a whole
// DCZID_EL0 block per instruction; not used: these ranges are small.)
    .globl  wrt_mte_set_tags_zero
    .hidden wrt_mte_set_tags_zero
    .type   wrt_mte_set_tags_zero, %function
    .p2align 2
wrt_mte_set_tags_zero:
    bti     c
    mov     x2, x0
.Lzero_tags32:
    cmp     x1, #32
    b.lo    .Lzero_tags16
    stz2g   x0, [x2], #32
    sub     x1, x1, #32
    b       .Lzero_tags32
.Lzero_tags16:
    cbz     x1, .Lzero_tags_done
    stzg    x0, [x2]
.Lzero_tags_done:
    ret
    .size   wrt_mte_set_tags_zero, . - wrt_mte_set_tags_zero
