//! QNX kernel calls: numbers, the result decoding, and one named wrapper per
//! call this backend makes.
//!
//! The trap itself is `arch/aarch64/qnx.rs` (`svc #0x51`, number in `w8`);
//! it hands back `x0` and whether the kernel returned to the error path
//! (svc+8). [`decode`] is the only place that turns that pair into a
//! `Result`, and it is pure, so host tests run it on simulated pairs.
//!
//! Each wrapper below is `#[inline(never)]`: it survives as its own symbol in
//! the object, where `scripts/check-qnx` checks that it loads the right
//! number into `w8` right before `svc #0x51` and has both return points.
//! The cost is one direct call per kernel call, next to a kernel entry.
//!
//! Kernel-call numbers: `sys/kercalls.h` of SDP 7.1 (Spitzbube/qnx-sdp
//! 8d745006, "branches/7.1.0", Rev 878035); the 7.0.4 copy (d0b677ef) has
//! the same values.

use crate::errno::{Errno, Result};

/// `__KER_MSG_SENDVNC`: `MsgSendvnc`, and `MsgSendnc` with negative part
/// counts (= plain byte lengths).
pub const KER_MSG_SENDVNC: u32 = 12;
/// `__KER_CLOCK_TIME`: `ClockTime(id, new, old)`.
pub const KER_CLOCK_TIME: u32 = 65;
/// `__KER_TIMER_TIMEOUT`: `TimerTimeout(id, flags, notify, ntime, otime)`.
pub const KER_TIMER_TIMEOUT: u32 = 75;
/// `__KER_SYNC_CREATE`: `SyncTypeCreate(type, sync, attr)`.
pub const KER_SYNC_CREATE: u32 = 78;
/// `__KER_SYNC_DESTROY`: `SyncDestroy(sync)`.
pub const KER_SYNC_DESTROY: u32 = 79;
/// `__KER_SYNC_MUTEX_LOCK`: `SyncMutexLock(sync)`.
pub const KER_SYNC_MUTEX_LOCK: u32 = 80;
/// `__KER_SYNC_MUTEX_UNLOCK`: `SyncMutexUnlock(sync)`.
pub const KER_SYNC_MUTEX_UNLOCK: u32 = 81;
/// `__KER_SYNC_CONDVAR_WAIT`: `SyncCondvarWait(cond, mutex)`.
pub const KER_SYNC_CONDVAR_WAIT: u32 = 82;
/// `__KER_SYNC_CONDVAR_SIGNAL`: `SyncCondvarSignal(cond, all)`.
pub const KER_SYNC_CONDVAR_SIGNAL: u32 = 83;

/// Decodes what a kernel call left behind: `x0`, and whether the kernel
/// returned to the error path (svc+8) instead of the instruction after the
/// `svc`.
///
/// On the error path `x0` is a positive errno. A value that cannot be one
/// (0, or wider than 16 bits) there breaks the kernel's contract; it is
/// still an error ([`Errno::IO`]), never a result. Off the error path every
/// `x0`, including small numbers that look like errnos, is the result.
#[inline]
pub fn decode(x0: usize, at_error_path: bool) -> Result<usize> {
    if !at_error_path {
        return Ok(x0);
    }
    let code = u16::try_from(x0).ok().and_then(Errno::from_raw);
    Err(code.unwrap_or(Errno::IO))
}

/// The five argument registers of `MsgSendnc(coid, smsg, sbytes, rmsg,
/// rbytes)` as the kernel takes them: `__KER_MSG_SENDVNC` with the part
/// counts negated, which tells the kernel they are byte lengths of plain
/// buffers rather than IOV counts. This is what libc's stub does before the
/// trap (`neg x2,x2; neg x4,x4; mov w8,#12; svc #0x51`, from the 6.4
/// mkkercalls table `MSG_SENDVNC ... NEGATIVE 3 5`; QNX 7.x libc quoted in
/// libunwind shows the same `neg x2,x2` for `MsgSendsv_r`).
#[inline]
pub fn msg_sendnc_args(
    coid: i32,
    smsg: usize,
    sbytes: usize,
    rmsg: usize,
    rbytes: usize,
) -> [usize; 5] {
    [
        coid as isize as usize,
        smsg,
        sbytes.wrapping_neg(),
        rmsg,
        rbytes.wrapping_neg(),
    ]
}

#[cfg(wrt_os = "qnx")]
pub use self::calls::*;

/// The named wrappers; they trap, so they exist only when built for QNX.
#[cfg(wrt_os = "qnx")]
mod calls {
    use super::{
        KER_CLOCK_TIME, KER_MSG_SENDVNC, KER_SYNC_CONDVAR_SIGNAL, KER_SYNC_CONDVAR_WAIT,
        KER_SYNC_CREATE, KER_SYNC_DESTROY, KER_SYNC_MUTEX_LOCK, KER_SYNC_MUTEX_UNLOCK,
        KER_TIMER_TIMEOUT, decode, msg_sendnc_args,
    };
    use crate::arch::qnx::{kercall1, kercall2, kercall3, kercall5};
    use crate::errno::Result;
    use crate::os::qnx::futex::SyncT;

    /// `MsgSendnc(coid, smsg, sbytes, rmsg, rbytes)`: sends `sbytes` bytes
    /// at `smsg` and receives up to `rbytes` bytes of reply into `rmsg`;
    /// returns the server's reply status. Not a cancellation point.
    ///
    /// # Safety
    /// `smsg..smsg+sbytes` must be readable and `rmsg..rmsg+rbytes`
    /// writable; what the server does with the message (e.g. map or unmap
    /// memory of this process) is the caller's responsibility.
    #[inline(never)]
    pub unsafe fn msg_sendnc(
        coid: i32,
        smsg: *const u8,
        sbytes: usize,
        rmsg: *mut u8,
        rbytes: usize,
    ) -> Result<usize> {
        let [a0, a1, a2, a3, a4] =
            msg_sendnc_args(coid, smsg as usize, sbytes, rmsg as usize, rbytes);
        // SAFETY: the kernel reads `sbytes` at `smsg` and writes at most
        // `rbytes` at `rmsg` (caller's contract); the server's effects are
        // the caller's.
        let r = unsafe { kercall5::<KER_MSG_SENDVNC>(a0, a1, a2, a3, a4) };
        decode(r.x0, r.at_error_path)
    }

    /// `ClockTime(id, NULL, &old)`: reads clock `id` in nanoseconds.
    #[inline(never)]
    pub fn clock_time(id: i32) -> Result<u64> {
        let mut now: u64 = 0;
        // SAFETY: with `new == NULL` the kernel only writes one u64 to
        // `&mut now`, which lives across the call.
        let r =
            unsafe { kercall3::<KER_CLOCK_TIME>(id as isize as usize, 0, &raw mut now as usize) };
        decode(r.x0, r.at_error_path)?;
        Ok(now)
    }

    /// `TimerTimeout(id, flags, NULL, ntime, NULL)`: arms a timeout on clock
    /// `id` for the calling thread's next kernel call that blocks in one of
    /// the states in `flags` (with `TIMER_ABSTIME`, `*ntime` is absolute).
    /// A NULL event means `SIGEV_UNBLOCK`: the blocked call fails with
    /// `ETIMEDOUT`. With `_NTO_TIMEOUT_NANOSLEEP` in `flags` the call itself
    /// sleeps. Returns the previous timeout flags.
    #[inline(never)]
    pub fn timer_timeout(id: i32, flags: u32, ntime: &u64) -> Result<usize> {
        // SAFETY: the kernel reads one u64 at `ntime` and writes nothing
        // (`otime == NULL`); arming a timeout has no memory effect.
        let r = unsafe {
            kercall5::<KER_TIMER_TIMEOUT>(
                id as isize as usize,
                flags as usize,
                0,
                ntime as *const u64 as usize,
                0,
            )
        };
        decode(r.x0, r.at_error_path)
    }

    /// `SyncTypeCreate(ty, sync, NULL)`: creates the kernel object of a
    /// mutex (`_NTO_SYNC_MUTEX_FREE`) or condition variable
    /// (`_NTO_SYNC_COND`) at `sync`, with default attributes.
    ///
    /// # Safety
    /// `sync` must stay valid, writable and unmoved until `SyncDestroy` or
    /// process exit (the kernel keys the object by its address), and no
    /// other thread may use it during the call.
    #[inline(never)]
    pub unsafe fn sync_type_create(ty: u32, sync: *const SyncT) -> Result<()> {
        // SAFETY: the kernel writes the 8-byte sync_t at `sync` (caller's
        // contract); attr NULL is read by no one.
        let r = unsafe { kercall3::<KER_SYNC_CREATE>(ty as usize, sync as usize, 0) };
        decode(r.x0, r.at_error_path).map(drop)
    }

    /// `SyncDestroy(sync)`.
    ///
    /// # Safety
    /// `sync` must be a sync object of this process that no thread uses.
    #[inline(never)]
    pub unsafe fn sync_destroy(sync: *const SyncT) -> Result<()> {
        // SAFETY: the kernel marks the sync_t at `sync` destroyed (caller's
        // contract: nobody uses it).
        let r = unsafe { kercall1::<KER_SYNC_DESTROY>(sync as usize) };
        decode(r.x0, r.at_error_path).map(drop)
    }

    /// `SyncMutexLock(sync)`, always in the kernel (no user-space fast
    /// path): blocks until the calling thread owns the mutex.
    ///
    /// # Safety
    /// `sync` must be a mutex created with [`sync_type_create`].
    #[inline(never)]
    pub unsafe fn sync_mutex_lock(sync: *const SyncT) -> Result<()> {
        // SAFETY: the kernel updates the owner word of the mutex at `sync`.
        let r = unsafe { kercall1::<KER_SYNC_MUTEX_LOCK>(sync as usize) };
        decode(r.x0, r.at_error_path).map(drop)
    }

    /// `SyncMutexUnlock(sync)`.
    ///
    /// # Safety
    /// As for [`sync_mutex_lock`]; the calling thread should own the mutex.
    #[inline(never)]
    pub unsafe fn sync_mutex_unlock(sync: *const SyncT) -> Result<()> {
        // SAFETY: the kernel updates the owner word of the mutex at `sync`.
        let r = unsafe { kercall1::<KER_SYNC_MUTEX_UNLOCK>(sync as usize) };
        decode(r.x0, r.at_error_path).map(drop)
    }

    /// `SyncCondvarWait(cond, mutex)`: atomically releases `mutex` (owned by
    /// the caller) and blocks on `cond`; the mutex is owned again when the
    /// call returns, whatever the result (see `futex.rs`).
    ///
    /// # Safety
    /// `cond` must be a condition variable and `mutex` a mutex, both created
    /// with [`sync_type_create`]; the caller must own `mutex`.
    #[inline(never)]
    pub unsafe fn sync_condvar_wait(cond: *const SyncT, mutex: *const SyncT) -> Result<()> {
        // SAFETY: the kernel updates both sync_t words (caller's contract).
        let r = unsafe { kercall2::<KER_SYNC_CONDVAR_WAIT>(cond as usize, mutex as usize) };
        decode(r.x0, r.at_error_path).map(drop)
    }

    /// `SyncCondvarSignal(cond, all)`: wakes the highest-priority waiter on
    /// `cond`, or every waiter when `all`.
    ///
    /// # Safety
    /// `cond` must be a condition variable created with
    /// [`sync_type_create`].
    #[inline(never)]
    pub unsafe fn sync_condvar_signal(cond: *const SyncT, all: bool) -> Result<()> {
        // SAFETY: the kernel reads the sync_t at `cond` and readies threads.
        let r = unsafe { kercall2::<KER_SYNC_CONDVAR_SIGNAL>(cond as usize, usize::from(all)) };
        decode(r.x0, r.at_error_path).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::qnx::errno;

    #[test]
    fn call_numbers_match_kercalls_h() {
        let pinned = [
            (KER_MSG_SENDVNC, 12, 0x0c),
            (KER_CLOCK_TIME, 65, 0x41),
            (KER_TIMER_TIMEOUT, 75, 0x4b),
            (KER_SYNC_CREATE, 78, 0x4e),
            (KER_SYNC_DESTROY, 79, 0x4f),
            (KER_SYNC_MUTEX_LOCK, 80, 0x50),
            (KER_SYNC_MUTEX_UNLOCK, 81, 0x51),
            (KER_SYNC_CONDVAR_WAIT, 82, 0x52),
            (KER_SYNC_CONDVAR_SIGNAL, 83, 0x53),
        ];
        for (value, dec, hex) in pinned {
            assert_eq!(value, dec);
            assert_eq!(value, hex);
        }
    }

    #[test]
    fn success_path_is_always_a_result() {
        assert_eq!(decode(0, false), Ok(0));
        // Numbers that look like errnos are results off the error path.
        assert_eq!(decode(usize::from(errno::EINVAL), false), Ok(22));
        assert_eq!(decode(usize::from(errno::ETIMEDOUT), false), Ok(260));
        assert_eq!(decode(usize::MAX, false), Ok(usize::MAX));
        assert_eq!(decode(0x4000_0000, false), Ok(0x4000_0000));
    }

    #[test]
    fn error_path_is_always_an_error() {
        let e = |code: u16| Err(Errno::from_raw(code).unwrap());
        assert_eq!(decode(usize::from(errno::EINVAL), true), e(errno::EINVAL));
        assert_eq!(decode(usize::from(errno::EINTR), true), e(errno::EINTR));
        assert_eq!(
            decode(usize::from(errno::ETIMEDOUT), true),
            e(errno::ETIMEDOUT)
        );
        assert_eq!(decode(usize::from(errno::ENOMEM), true), e(errno::ENOMEM));
        assert_eq!(decode(0xffff, true), e(0xffff));
        // Not a valid errno, but still never a success.
        assert_eq!(decode(0, true), Err(Errno::IO));
        assert_eq!(decode(0x1_0000, true), Err(Errno::IO));
        assert_eq!(decode(usize::MAX, true), Err(Errno::IO));
        // What the libc `_r` stubs would hand back (`neg x0,x0`) is not what
        // the kernel puts in x0: a negative x0 on the error path is invalid.
        assert_eq!(decode(22usize.wrapping_neg(), true), Err(Errno::IO));
    }

    #[test]
    fn msg_sendnc_negates_both_lengths() {
        let [coid, smsg, sbytes, rmsg, rbytes] =
            msg_sendnc_args(0x4000_0000, 0x1000, 72, 0x2000, 24);
        assert_eq!(coid, 0x4000_0000);
        assert_eq!((smsg, rmsg), (0x1000, 0x2000));
        assert_eq!(sbytes as isize, -72);
        assert_eq!(rbytes as isize, -24);
        assert_eq!(sbytes, 0xffff_ffff_ffff_ffb8);
        // No reply buffer: length 0 stays 0.
        let [_, _, sbytes, rmsg, rbytes] = msg_sendnc_args(0x4000_0000, 0x1000, 24, 0, 0);
        assert_eq!((sbytes as isize, rmsg, rbytes), (-24, 0, 0));
        // A negative coid (never used here) is sign-extended like an `int`.
        assert_eq!(msg_sendnc_args(-1, 0, 0, 0, 0)[0], usize::MAX);
    }
}
