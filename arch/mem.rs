//! Bulk byte operations behind `memory.fill` and `memory.copy`.
//!
//! They are the hand-written routines in `asm/<isa>-<objfmt>/mem.s`, not
//! `core::ptr::{write_bytes, copy}`: those lower to calls to libc's
//! `memset`/`memmove`, and `libwrt_helper.a` must link with no libc at all.

#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
core::arch::global_asm!(include_str!("../asm/x86_64-elf/mem.s"), options(raw));

#[cfg(all(target_arch = "aarch64", not(target_vendor = "apple")))]
core::arch::global_asm!(include_str!("../asm/aarch64-elf/mem.s"), options(raw));

#[cfg(all(target_arch = "aarch64", target_vendor = "apple"))]
core::arch::global_asm!(include_str!("../asm/aarch64-macho/mem.s"), options(raw));

unsafe extern "C" {
    /// `asm/*/mem.s`: sets `n` bytes at `dst` to the low byte of `value`.
    fn wrt_arch_memset(dst: *mut u8, value: i32, n: usize) -> *mut u8;
    /// `asm/*/mem.s`: copies `n` bytes, ranges may overlap.
    fn wrt_arch_memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8;
}

/// Sets `len` bytes at `dst` to `value`.
///
/// # Safety
/// `[dst, dst + len)` must be writable.
#[inline]
pub(crate) unsafe fn fill(dst: *mut u8, value: u8, len: usize) {
    // SAFETY: the caller guarantees the range is writable; the routine
    // writes exactly that range.
    unsafe { wrt_arch_memset(dst, i32::from(value), len) };
}

/// Copies `len` bytes from `src` to `dst`; the ranges may overlap.
///
/// # Safety
/// `[src, src + len)` must be readable and `[dst, dst + len)` writable.
#[inline]
pub(crate) unsafe fn copy(dst: *mut u8, src: *const u8, len: usize) {
    // SAFETY: the caller guarantees both ranges; the routine handles overlap.
    unsafe { wrt_arch_memmove(dst, src, len) };
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    /// Every (dst, src, len) in a small window, overlapping both ways,
    /// against `<[T]>::copy_within` (core's memmove).
    #[test]
    fn copy_matches_copy_within() {
        let init: Vec<u8> = (0..96u8).collect();
        for len in 0..40 {
            for src in 0..(96 - len) {
                for dst in 0..(96 - len) {
                    let mut ours = init.clone();
                    let mut oracle = init.clone();
                    let (d, s) = (
                        ours.as_mut_ptr().wrapping_add(dst),
                        ours.as_ptr().wrapping_add(src),
                    );
                    // SAFETY: both ranges lie in `ours`.
                    unsafe { super::copy(d, s, len) };
                    oracle.copy_within(src..src + len, dst);
                    assert_eq!(ours, oracle, "dst {dst} src {src} len {len}");
                }
            }
        }
    }

    #[test]
    fn fill_sets_exactly_the_range() {
        for len in 0..70 {
            for at in 0..9 {
                let mut buf = [0x55u8; 96];
                // SAFETY: the range lies in `buf`.
                unsafe { super::fill(buf.as_mut_ptr().wrapping_add(at), 0xA3, len) };
                for (i, b) in buf.iter().enumerate() {
                    let inside = i >= at && i < at + len;
                    assert_eq!(
                        *b,
                        if inside { 0xA3 } else { 0x55 },
                        "at {at} len {len} i {i}"
                    );
                }
            }
        }
    }
}
