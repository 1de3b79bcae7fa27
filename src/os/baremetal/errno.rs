//! The crate's own error numbering where there is no OS to define one: the
//! Linux asm-generic values (`include/uapi/asm-generic/errno-base.h`,
//! `errno.h`), so numbers read the same as on Linux.

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
pub(crate) const ENOSYS: u16 = 38;
pub(crate) const EOVERFLOW: u16 = 75;
pub(crate) const ENOTSUP: u16 = 95;
pub(crate) const ETIMEDOUT: u16 = 110;
