//! QNX Neutrino error numbers, from the SDP 7.1 `errno.h`. The same values are
//! in rust-lang/libc `src/unix/nto/mod.rs` (0.2.191). Note the QNX-specific
//! ETIMEDOUT (260), ENOSYS (89) and ENOTSUP (48).

pub(crate) const EPERM: u16 = 1;
pub(crate) const ENOENT: u16 = 2;
pub(crate) const EINTR: u16 = 4;
pub(crate) const EIO: u16 = 5;
pub(crate) const EBADF: u16 = 9;
pub(crate) const EAGAIN: u16 = 11;
pub(crate) const ENOMEM: u16 = 12;
pub(crate) const EACCES: u16 = 13;
pub(crate) const EFAULT: u16 = 14;
pub(crate) const EBUSY: u16 = 16;
pub(crate) const EEXIST: u16 = 17;
pub(crate) const EINVAL: u16 = 22;
pub(crate) const EDOM: u16 = 33;
pub(crate) const ERANGE: u16 = 34;
pub(crate) const ENOTSUP: u16 = 48;
pub(crate) const EOVERFLOW: u16 = 79;
pub(crate) const ENOSYS: u16 = 89;
pub(crate) const ETIMEDOUT: u16 = 260;
