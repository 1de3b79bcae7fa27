//! XNU error numbers, from `bsd/sys/errno.h` (xnu-11417.101.15). The same
//! values are in rust-lang/libc `src/unix/bsd/apple/mod.rs`.

pub(crate) const EPERM: u16 = 1;
pub(crate) const ENOENT: u16 = 2;
pub(crate) const ESRCH: u16 = 3;
pub(crate) const EINTR: u16 = 4;
pub(crate) const EIO: u16 = 5;
pub(crate) const EBADF: u16 = 9;
pub(crate) const ENOMEM: u16 = 12;
pub(crate) const EACCES: u16 = 13;
pub(crate) const EFAULT: u16 = 14;
pub(crate) const EBUSY: u16 = 16;
pub(crate) const EEXIST: u16 = 17;
pub(crate) const EINVAL: u16 = 22;
pub(crate) const EDOM: u16 = 33;
pub(crate) const ERANGE: u16 = 34;
pub(crate) const EAGAIN: u16 = 35;
pub(crate) const ENOTSUP: u16 = 45;
pub(crate) const ETIMEDOUT: u16 = 60;
pub(crate) const ENOSYS: u16 = 78;
pub(crate) const EOVERFLOW: u16 = 84;
pub(crate) const EOWNERDEAD: u16 = 105;
