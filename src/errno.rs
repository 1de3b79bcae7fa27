//! One error type for every backend.
//!
//! [`Errno`] holds a positive error number **in the numbering of the platform
//! the crate is built for** (Linux's on Linux, XNU's on macOS, QNX's on QNX;
//! on bare metal and Zephyr the crate's own table in `os/baremetal/errno.rs`).
//! Each backend maps its trap convention into it:
//!
//! * Linux: a return word in `[-4095, -1]` is `-errno` (`os::linux::syscall`);
//! * macOS: the carry flag is set and `x0` holds the positive errno;
//! * QNX: the kernel returns to the error path with a positive errno in `x0`;
//! * Zephyr: kernel calls return `-errno`.
//!
//! The named constants ([`Errno::INVAL`], [`Errno::TIMEDOUT`], ...) have the
//! right value on every platform, so portable code compares against them and
//! never against numbers.

use core::fmt;
use core::num::NonZeroU16;

use crate::os::errno as codes;

/// A positive OS error number (see the [module docs](self)).
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct Errno(NonZeroU16);

/// Result type of every fallible operation in this crate.
pub type Result<T> = core::result::Result<T, Errno>;

macro_rules! errno_table {
    ($($(#[$doc:meta])* $name:ident = $code:ident, $text:literal;)*) => {
        impl Errno {
            $(
                $(#[$doc])*
                pub const $name: Errno = Errno::from_const(codes::$code);
            )*

            /// The symbolic name (`"EINVAL"`) and a short description of
            /// the named constants; `None` for other numbers.
            pub fn describe(self) -> Option<(&'static str, &'static str)> {
                $(
                    if self == Self::$name {
                        return Some((stringify!($code), $text));
                    }
                )*
                None
            }
        }
    };
}

errno_table! {
    /// Operation not permitted.
    PERM = EPERM, "operation not permitted";
    /// No such file or directory (macOS ulock wake: nobody waited).
    NOENT = ENOENT, "no such file or directory";
    /// Interrupted by a signal.
    INTR = EINTR, "interrupted system call";
    /// I/O error.
    IO = EIO, "input/output error";
    /// Bad file descriptor.
    BADF = EBADF, "bad file descriptor";
    /// Try again (Linux futex: the value did not match).
    AGAIN = EAGAIN, "resource temporarily unavailable";
    /// Out of memory or address space.
    NOMEM = ENOMEM, "cannot allocate memory";
    /// Permission denied.
    ACCES = EACCES, "permission denied";
    /// Bad address.
    FAULT = EFAULT, "bad address";
    /// Resource busy.
    BUSY = EBUSY, "device or resource busy";
    /// Already exists.
    EXIST = EEXIST, "file exists";
    /// Invalid argument (also: misaligned offset or length in this crate).
    INVAL = EINVAL, "invalid argument";
    /// Numerical argument out of domain.
    DOM = EDOM, "numerical argument out of domain";
    /// Result out of range (in this crate: a range outside a reservation).
    RANGE = ERANGE, "numerical result out of range";
    /// Function not implemented (the kernel lacks the system call).
    NOSYS = ENOSYS, "function not implemented";
    /// Operation not supported (in this crate: a protection or feature the
    /// platform or CPU lacks).
    NOTSUP = ENOTSUP, "operation not supported";
    /// Timed out.
    TIMEDOUT = ETIMEDOUT, "timed out";
    /// Value too large (in this crate: a size computation overflowed).
    OVERFLOW = EOVERFLOW, "value too large for defined data type";
}

impl Errno {
    const fn from_const(code: u16) -> Self {
        match NonZeroU16::new(code) {
            Some(nz) => Errno(nz),
            None => panic!("errno 0 is not an error"),
        }
    }

    /// Wraps a positive raw error number; `None` for 0.
    #[inline]
    pub const fn from_raw(code: u16) -> Option<Self> {
        match NonZeroU16::new(code) {
            Some(nz) => Some(Errno(nz)),
            None => None,
        }
    }

    /// The positive raw error number in the platform's numbering.
    #[inline]
    pub const fn raw(self) -> u16 {
        self.0.get()
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.describe() {
            Some((name, _)) => write!(f, "Errno({name})"),
            None => write!(f, "Errno({})", self.raw()),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.describe() {
            Some((name, text)) => write!(f, "{text} ({name}, errno {})", self.raw()),
            None => write!(f, "errno {}", self.raw()),
        }
    }
}

impl core::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::Errno;

    #[test]
    fn named_constants_are_distinct() {
        let all = [
            Errno::PERM,
            Errno::NOENT,
            Errno::INTR,
            Errno::IO,
            Errno::BADF,
            Errno::AGAIN,
            Errno::NOMEM,
            Errno::ACCES,
            Errno::FAULT,
            Errno::BUSY,
            Errno::EXIST,
            Errno::INVAL,
            Errno::DOM,
            Errno::RANGE,
            Errno::NOSYS,
            Errno::NOTSUP,
            Errno::TIMEDOUT,
            Errno::OVERFLOW,
        ];
        for (i, a) in all.iter().enumerate() {
            assert!(a.describe().is_some());
            for b in &all[i + 1..] {
                assert_ne!(a, b, "{a:?} and {b:?} share a number");
            }
        }
    }

    #[test]
    fn display_names_the_error() {
        extern crate std;
        use std::string::ToString;
        assert_eq!(
            Errno::INVAL.to_string(),
            std::format!("invalid argument (EINVAL, errno {})", Errno::INVAL.raw())
        );
        assert_eq!(Errno::from_raw(0), None);
        let odd = Errno::from_raw(4000).unwrap();
        assert_eq!(odd.to_string(), "errno 4000");
        assert_eq!(std::format!("{odd:?}"), "Errno(4000)");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn linux_values_match_libc() {
        assert_eq!(i32::from(Errno::INVAL.raw()), libc::EINVAL);
        assert_eq!(i32::from(Errno::AGAIN.raw()), libc::EAGAIN);
        assert_eq!(i32::from(Errno::TIMEDOUT.raw()), libc::ETIMEDOUT);
        assert_eq!(i32::from(Errno::NOTSUP.raw()), libc::ENOTSUP);
        assert_eq!(i32::from(Errno::NOSYS.raw()), libc::ENOSYS);
        assert_eq!(i32::from(Errno::OVERFLOW.raw()), libc::EOVERFLOW);
    }
}
