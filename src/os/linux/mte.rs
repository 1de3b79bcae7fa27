//! Memory tagging (MTE) on Linux aarch64.
//!
//! 1. [`enable`] turns on the tagged-address ABI and tag-check faults for
//!    the calling thread (`prctl(PR_SET_TAGGED_ADDR_CTRL)`), with an
//!    explicit include mask that must allow a tag other than 0: with
//!    Linux's default mask (empty: a thread that never called `enable`) or
//!    a mask of tag 0 alone, IRG only ever yields tag 0, and memory tagged
//!    0 is checked against the tag every untagged pointer carries. New
//!    threads inherit the setting from the thread that creates them, so
//!    call it before spawning threads.
//! 2. Map memory with [`Protection::with_mte`](crate::Protection::with_mte)
//!    (`PROT_MTE`); fresh pages have allocation tag 0.
//! 3. Tag it: [`random_tag`] (IRG), [`set_tags`] (ST2G/STG), [`set_tags_zero`]
//!    (STZ2G/STZG), read a tag back with [`load_tag`] (LDG). The routines are
//!    in `asm/aarch64-elf/mte.s`.
//!
//! A load or store through a pointer whose logical tag (bits 59:56) differs
//! from the allocation tag of the granule then faults: SIGSEGV with
//! `si_code == SEGV_MTESERR` in [`TagCheck::Sync`] mode (at the access, with
//! the address), `SEGV_MTEAERR` in `Async` mode (later, without it).
//! Kernel reference: Documentation/arch/arm64/memory-tagging-extension.rst.
//! `MADV_DONTNEED` (decommit) may reset tags to 0.
//!
//! Everything returns [`Errno::NOTSUP`] where the CPU has no MTE
//! (`HWCAP2_MTE` absent), so callers degrade to untagged operation.

use linux_raw_sys::prctl::{
    PR_MTE_TAG_SHIFT, PR_MTE_TCF_ASYNC, PR_MTE_TCF_SYNC, PR_SET_TAGGED_ADDR_CTRL,
    PR_TAGGED_ADDR_ENABLE,
};

use super::probe;
use super::syscall::ret_unit;
use crate::arch::mte as asm;
use crate::errno::{Errno, Result};

/// Bytes per allocation-tag granule.
pub const GRANULE: usize = 16;

/// When tag mismatches are reported.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum TagCheck {
    /// At the faulting access, precisely (SEGV_MTESERR, with the address).
    Sync,
    /// Some time later (at the next kernel entry), without the address
    /// (SEGV_MTEAERR); cheaper.
    Async,
}

/// Whether the CPU and kernel offer MTE (`HWCAP2_MTE`).
pub fn available() -> bool {
    probe::auxv().is_ok_and(|a| a.mte())
}

fn require() -> Result<()> {
    if available() {
        Ok(())
    } else {
        Err(Errno::NOTSUP)
    }
}

/// Enables tagged addresses and tag checking for the calling thread.
/// `include` is the set of tags IRG may produce (bit n = tag n); it must
/// hold a tag other than 0 ([`Errno::INVAL`] for `0x0000` and `0x0001`:
/// IRG would only ever produce tag 0, which untagged pointers carry too).
/// [`Errno::NOTSUP`] without MTE.
pub fn enable(check: TagCheck, include: u16) -> Result<()> {
    require()?;
    if include & !1 == 0 {
        return Err(Errno::INVAL);
    }
    let tcf = match check {
        TagCheck::Sync => PR_MTE_TCF_SYNC,
        TagCheck::Async => PR_MTE_TCF_ASYNC,
    };
    let ctrl =
        PR_TAGGED_ADDR_ENABLE as usize | tcf as usize | (usize::from(include) << PR_MTE_TAG_SHIFT);
    // SAFETY: prctl(PR_SET_TAGGED_ADDR_CTRL) reads no user memory.
    ret_unit(unsafe { syscall!(__NR_prctl, PR_SET_TAGGED_ADDR_CTRL as usize, ctrl, 0, 0, 0) })
}

/// The logical tag of a pointer (bits 59:56).
pub fn tag_of(p: *const u8) -> u8 {
    ((p as usize >> 56) & 0xf) as u8
}

/// `p` with its logical tag replaced by `tag` (low 4 bits).
pub fn with_tag(p: *mut u8, tag: u8) -> *mut u8 {
    p.map_addr(|a| (a & !(0xf << 56)) | (usize::from(tag & 0xf) << 56))
}

fn check_granules(p: *const u8, len: usize) -> Result<()> {
    if !(p as usize).is_multiple_of(GRANULE) || !len.is_multiple_of(GRANULE) {
        return Err(Errno::INVAL);
    }
    require()
}

/// `p` with a random logical tag (IRG) that is not in `exclude` (bit n =
/// tag n) and is in the include mask given to [`enable`]. When the two
/// leave no tag (as in a thread that never called [`enable`]: Linux's
/// default include mask is empty), IRG yields tag 0 whatever `exclude`
/// says; callers that need another tag must check. The pointer is not
/// accessed.
// IRG computes a value from the pointer; it never accesses memory.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub fn random_tag(p: *mut u8, exclude: u16) -> Result<*mut u8> {
    require()?;
    // SAFETY: MTE is present, so IRG is defined; it only computes a value.
    Ok(unsafe { asm::wrt_mte_irg(p, u64::from(exclude)) })
}

/// Sets the allocation tags of `[p, p + len)` to `p`'s logical tag (ST2G
/// for pairs of granules, STG for the last one); the data is kept.
/// [`Errno::INVAL`] unless `p` and `len` are multiples of 16.
///
/// # Safety
/// The range must be mapped with `PROT_MTE` and writable; no access through
/// a pointer with another tag may be expected to succeed afterwards.
pub unsafe fn set_tags(p: *mut u8, len: usize) -> Result<()> {
    check_granules(p, len)?;
    // SAFETY: aligned (checked), mapped PROT_MTE and writable (caller).
    unsafe { asm::wrt_mte_set_tags(p, len) };
    Ok(())
}

/// Sets the tags of `[p, p + len)` to `p`'s tag and zeroes the data
/// (STZ2G / STZG). [`Errno::INVAL`] unless `p` and `len` are multiples of 16.
///
/// # Safety
/// As for [`set_tags`], and no live reference may point into the range.
pub unsafe fn set_tags_zero(p: *mut u8, len: usize) -> Result<()> {
    check_granules(p, len)?;
    // SAFETY: aligned (checked), mapped PROT_MTE and writable (caller).
    unsafe { asm::wrt_mte_set_tags_zero(p, len) };
    Ok(())
}

/// The allocation tag of the granule `p` points into (LDG).
///
/// # Safety
/// `p` must point into a mapped, readable range.
pub unsafe fn load_tag(p: *const u8) -> Result<u8> {
    require()?;
    let granule = p.map_addr(|a| a & !(GRANULE - 1));
    // SAFETY: MTE is present; the granule is mapped and readable (caller).
    Ok(tag_of(unsafe { asm::wrt_mte_ldg(granule) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_tag_arithmetic() {
        let p = 0x0000_ffff_1234_5670usize as *mut u8;
        let t = with_tag(p, 0xb);
        assert_eq!(t as usize, 0x0b00_ffff_1234_5670);
        assert_eq!(tag_of(t), 0xb);
        assert_eq!(with_tag(t, 0x13) as usize, 0x0300_ffff_1234_5670);
    }
}
