//! Linux error numbers, from `linux-raw-sys` (kernel UAPI headers).

use linux_raw_sys::errno as e;

macro_rules! narrow {
    ($($name:ident = $src:ident;)*) => {$(
        pub(crate) const $name: u16 = {
            assert!(e::$src > 0 && e::$src < 4096);
            e::$src as u16
        };
    )*};
}

narrow! {
    EPERM = EPERM;
    ENOENT = ENOENT;
    EINTR = EINTR;
    EIO = EIO;
    EBADF = EBADF;
    EAGAIN = EAGAIN;
    ENOMEM = ENOMEM;
    EACCES = EACCES;
    EFAULT = EFAULT;
    EBUSY = EBUSY;
    EEXIST = EEXIST;
    EINVAL = EINVAL;
    EDOM = EDOM;
    ERANGE = ERANGE;
    ENOSYS = ENOSYS;
    // Linux has no separate ENOTSUP: libc defines it as EOPNOTSUPP.
    ENOTSUP = EOPNOTSUPP;
    ETIMEDOUT = ETIMEDOUT;
    EOVERFLOW = EOVERFLOW;
}
