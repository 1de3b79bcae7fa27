//! Result conventions of XNU traps, as pure functions the host tests call.
//!
//! * BSD system calls return a pair: x0 and the carry flag. Carry clear is
//!   success with the result in x0; carry set is failure with a **positive**
//!   errno in x0 ([`decode_bsd`]).
//! * Mach traps return a `kern_return_t` in the low 32 bits of x0, with no
//!   flag ([`KernReturn`]); it maps onto [`Errno`] as XNU's own
//!   `mach_to_bsd_errno` does ([`KernReturn::errno`]).

use core::fmt;

use super::consts::kern_return as kr;
use super::errno as e;
use crate::errno::{Errno, Result};

/// An XNU errno number as an [`Errno`] (for the backend's own errors, so
/// that host tests see macOS numbers, not the host's).
pub(crate) const fn xnu(code: u16) -> Errno {
    match Errno::from_raw(code) {
        Some(errno) => errno,
        None => panic!("errno 0 is not an error"),
    }
}

/// Decodes a BSD system call's `(x0, carry)` pair.
///
/// Carry clear: `Ok(x0)`. Carry set: `Err(errno)` with `errno = x0`. The
/// kernel always sets a positive errno below 256 (`bsd/sys/errno.h`); an
/// error word that does not fit (0 or above `u16::MAX`, which no kernel
/// produces) is reported as `EIO` rather than trusted.
#[inline]
pub fn decode_bsd(x0: usize, carry: bool) -> Result<usize> {
    if !carry {
        return Ok(x0);
    }
    match u16::try_from(x0).ok().and_then(Errno::from_raw) {
        Some(errno) => Err(errno),
        None => Err(xnu(e::EIO)),
    }
}

/// Decodes a BSD system call that returns no value (x0 is ignored on
/// success: for `_SYSCALL_RET_NONE` calls the kernel leaves the first
/// argument there).
#[inline]
pub fn decode_bsd_unit(x0: usize, carry: bool) -> Result<()> {
    decode_bsd(x0, carry).map(drop)
}

/// A Mach `kern_return_t` other than `KERN_SUCCESS`.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct KernReturn(i32);

impl KernReturn {
    /// Decodes a Mach trap's x0: `KERN_SUCCESS` (0) in the low 32 bits is
    /// `Ok`, anything else is the error (the kernel writes a 32-bit
    /// `kern_return_t`; the upper half of x0 is ignored).
    #[inline]
    pub fn check(x0: usize) -> core::result::Result<(), KernReturn> {
        match x0 as u32 as i32 {
            kr::KERN_SUCCESS => Ok(()),
            code => Err(KernReturn(code)),
        }
    }

    /// A `kern_return_t` (or `mach_msg_return_t`, MIG error) the backend
    /// decoded itself; 0 is not an error and never passed here.
    pub const fn from_raw(code: i32) -> KernReturn {
        KernReturn(code)
    }

    /// Decodes the unfolded `kern_return_t` of a MIG reply or a `mach_msg`
    /// return: `KERN_SUCCESS` is `Ok`.
    pub const fn check_code(code: i32) -> core::result::Result<(), KernReturn> {
        match code {
            kr::KERN_SUCCESS => Ok(()),
            code => Err(KernReturn(code)),
        }
    }

    /// The raw `kern_return_t`.
    pub const fn raw(self) -> i32 {
        self.0
    }

    /// The errno XNU's `mach_to_bsd_errno` (`bsd/kern/ubc_subr.c`) gives
    /// for this code; codes it does not list map to `EIO`, as there.
    /// `MACH_SEND_INVALID_DEST` (a bad task port name) is `EINVAL` here,
    /// and `MIG_BAD_ID` (the kernel does not know the routine) `ENOSYS`.
    pub fn errno(self) -> Errno {
        xnu(match self.0 {
            kr::KERN_INVALID_ADDRESS | kr::KERN_INVALID_ARGUMENT => e::EINVAL,
            kr::MACH_SEND_INVALID_DEST => e::EINVAL,
            kr::KERN_PROTECTION_FAILURE | kr::KERN_NO_ACCESS => e::EACCES,
            kr::KERN_NO_SPACE | kr::KERN_RESOURCE_SHORTAGE => e::ENOMEM,
            kr::KERN_MEMORY_FAILURE => e::EPERM,
            kr::KERN_MEMORY_ERROR => e::EBUSY,
            kr::KERN_NOT_SUPPORTED => e::ENOTSUP,
            super::consts::mach_msg::MIG_BAD_ID => e::ENOSYS,
            _ => e::EIO,
        })
    }
}

impl fmt::Debug for KernReturn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KernReturn({:#x})", self.0)
    }
}

impl From<KernReturn> for Errno {
    fn from(k: KernReturn) -> Errno {
        k.errno()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carry_clear_is_success_whatever_x0_holds() {
        assert_eq!(decode_bsd(0, false), Ok(0));
        // An mmap address with high bits, and a word that would look like
        // -errno under the Linux convention, are both plain results here.
        assert_eq!(decode_bsd(0x0000_0001_0000_4000, false), Ok(0x1_0000_4000));
        assert_eq!(decode_bsd(usize::MAX - 21, false), Ok(usize::MAX - 21));
        assert_eq!(decode_bsd_unit(0x1234, false), Ok(()));
    }

    #[test]
    fn carry_set_is_a_positive_errno_in_x0() {
        assert_eq!(decode_bsd(22, true), Err(xnu(e::EINVAL)));
        assert_eq!(decode_bsd(60, true).map_err(Errno::raw), Err(60));
        assert_eq!(decode_bsd(2, true).map_err(Errno::raw), Err(e::ENOENT));
        assert_eq!(decode_bsd_unit(4, true).map_err(Errno::raw), Err(e::EINTR));
        // Words no kernel produces with carry set are not trusted.
        assert_eq!(decode_bsd(0, true).map_err(Errno::raw), Err(e::EIO));
        assert_eq!(decode_bsd(1 << 16, true).map_err(Errno::raw), Err(e::EIO));
        assert_eq!(
            decode_bsd(usize::MAX, true).map_err(Errno::raw),
            Err(e::EIO)
        );
    }

    #[test]
    fn kern_return_decoding_and_errno_mapping() {
        assert_eq!(KernReturn::check(0), Ok(()));
        // Only the low 32 bits are the kern_return_t.
        assert_eq!(KernReturn::check(0xFFFF_FFFF_0000_0000), Ok(()));
        assert_eq!(KernReturn::check(3).map_err(KernReturn::raw), Err(3));
        let errno = |x0: usize| KernReturn::check(x0).unwrap_err().errno().raw();
        assert_eq!(errno(1), e::EINVAL);
        assert_eq!(errno(4), e::EINVAL);
        assert_eq!(errno(0x1000_0003), e::EINVAL);
        assert_eq!(errno(2), e::EACCES);
        assert_eq!(errno(8), e::EACCES);
        assert_eq!(errno(3), e::ENOMEM);
        assert_eq!(errno(6), e::ENOMEM);
        assert_eq!(errno(9), e::EPERM);
        assert_eq!(errno(10), e::EBUSY);
        assert_eq!(errno(46), e::ENOTSUP);
        assert_eq!(errno(5), e::EIO);
        assert_eq!(errno(12345), e::EIO);
        // MIG errors: an unknown routine is ENOSYS, the rest EIO.
        let mig = |code: i32| KernReturn::from_raw(code).errno().raw();
        assert_eq!(mig(-303), e::ENOSYS);
        assert_eq!(mig(-300), e::EIO);
        assert_eq!(mig(-308), e::EIO);
        assert_eq!(mig(0x1000_4005), e::EIO);
        assert_eq!(KernReturn::check_code(0), Ok(()));
        assert_eq!(KernReturn::check_code(-301).unwrap_err().raw(), -301);
        extern crate std;
        assert_eq!(
            std::format!("{:?}", KernReturn::check(4).unwrap_err()),
            "KernReturn(0x4)"
        );
    }
}
