//! The `syscall!` macro and the Linux result convention.
//!
//! `syscall!(__NR_name, a0, ..)` resolves the number from
//! `linux_raw_sys::general` and picks the wrapper of the right arity from
//! `arch/<isa>/linux.rs`; arguments are `usize`. [`ret`] decodes the raw
//! result: a word in `[-4095, -1]` is `-errno`, anything else is success.

use crate::errno::{Errno, Result};

/// Issues a Linux system call by name; evaluates to the raw `usize` result.
/// Must be used inside an `unsafe` block whose `SAFETY` comment covers the
/// call's memory effects.
macro_rules! syscall {
    ($nr:ident) => {
        $crate::arch::linux::syscall0_readonly(linux_raw_sys::general::$nr)
    };
    ($nr:ident, $a0:expr) => {
        $crate::arch::linux::syscall1(linux_raw_sys::general::$nr, $a0)
    };
    ($nr:ident, $a0:expr, $a1:expr) => {
        $crate::arch::linux::syscall2(linux_raw_sys::general::$nr, $a0, $a1)
    };
    ($nr:ident, $a0:expr, $a1:expr, $a2:expr) => {
        $crate::arch::linux::syscall3(linux_raw_sys::general::$nr, $a0, $a1, $a2)
    };
    ($nr:ident, $a0:expr, $a1:expr, $a2:expr, $a3:expr) => {
        $crate::arch::linux::syscall4(linux_raw_sys::general::$nr, $a0, $a1, $a2, $a3)
    };
    ($nr:ident, $a0:expr, $a1:expr, $a2:expr, $a3:expr, $a4:expr) => {
        $crate::arch::linux::syscall5(linux_raw_sys::general::$nr, $a0, $a1, $a2, $a3, $a4)
    };
    ($nr:ident, $a0:expr, $a1:expr, $a2:expr, $a3:expr, $a4:expr, $a5:expr) => {
        $crate::arch::linux::syscall6(linux_raw_sys::general::$nr, $a0, $a1, $a2, $a3, $a4, $a5)
    };
}

/// Decodes a raw system-call result.
#[inline]
pub(crate) fn ret(raw: usize) -> Result<usize> {
    // -4095..=-1 as usize is the top 4095 values of the word.
    if raw > usize::MAX - 4095 {
        let code = raw.wrapping_neg() as u16; // 1..=4095 by the test above
        // `from_raw` only rejects 0, which cannot occur here.
        Err(Errno::from_raw(code).unwrap_or(Errno::IO))
    } else {
        Ok(raw)
    }
}

/// Decodes a result that carries no value.
#[inline]
pub(crate) fn ret_unit(raw: usize) -> Result<()> {
    ret(raw).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_errno_range() {
        assert_eq!(ret(0), Ok(0));
        assert_eq!(ret(usize::MAX - 4095), Ok(usize::MAX - 4095));
        assert_eq!(ret((-22isize) as usize), Err(Errno::INVAL));
        assert_eq!(ret(usize::MAX), Err(Errno::PERM));
        assert_eq!(ret((-4095isize) as usize).map_err(Errno::raw), Err(4095));
    }
}
