//! The MTE routines of `asm/aarch64-elf/mte.s` (see that file for register
//! maps). Callers must know MTE exists (HWCAP2_MTE): on other cores these
//! instructions are undefined.

core::arch::global_asm!(include_str!("../../asm/aarch64-elf/mte.s"), options(raw));

unsafe extern "C" {
    /// `irg`: `p` with a random logical tag not in `exclude`.
    pub(crate) fn wrt_mte_irg(p: *mut u8, exclude: u64) -> *mut u8;
    /// `ldg`: `p` with the allocation tag of its granule.
    pub(crate) fn wrt_mte_ldg(p: *const u8) -> *mut u8;
    /// `st2g`/`stg`: tag `[p, p + len)` with `p`'s tag.
    pub(crate) fn wrt_mte_set_tags(p: *mut u8, len: usize);
    /// `stz2g`/`stzg`: tag `[p, p + len)` with `p`'s tag and zero it.
    pub(crate) fn wrt_mte_set_tags_zero(p: *mut u8, len: usize);
}
