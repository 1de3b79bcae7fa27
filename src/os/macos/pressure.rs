//! Memory pressure without libSystem: the level and the available-memory
//! percentage by raw `sysctlbyname` (system call 274), and a polling
//! [`MemoryPressure`] helper whose callback fires when the level changes.
//!
//! Sources (XNU; reference sheet A.5):
//!
//! * `kern.memorystatus_vm_pressure_level`: an int holding
//!   `NOTE_MEMORYSTATUS_PRESSURE_NORMAL` (1), `_WARN` (2) or `_CRITICAL`
//!   (4); the kernel's Warning and Urgent levels both read as WARN
//!   (`bsd/kern/kern_memorystatus_notify.c`). Hidden from listings
//!   (`CTLFLAG_MASKED`) but readable on macOS; other Apple platforms need
//!   `PRIV_VM_PRESSURE`.
//! * `kern.memorystatus_level`: an int, the percentage of memory available
//!   (`bsd/kern/kern_memorystatus.c`).
//! * Both are `OID_AUTO`: no fixed MIB exists, hence `sysctlbyname`, whose
//!   name length excludes the NUL.
//!
//! Two sources feed the same callback API ([`MemoryPressure::poll`]):
//!
//! * [`SysctlPressure`]: reads the sysctl at every poll (the caller picks
//!   the interval).
//! * [`KqueuePressure`]: push notification. A kqueue (`kqueue()`, system
//!   call 362) with one `EVFILT_MEMORYSTATUS` knote for
//!   `NOTE_MEMORYSTATUS_PRESSURE_{NORMAL,WARN,CRITICAL}` (`kevent()`, 363,
//!   `EV_ADD | EV_ENABLE | EV_RECEIPT`), the filter libSystem's
//!   `DISPATCH_SOURCE_TYPE_MEMORYPRESSURE` rests on. Its level changes only
//!   when the kernel posts an event (`filt_memorystatus` in
//!   `bsd/kern/kern_memorystatus_notify.c` sets `kn_fflags` to the new
//!   level; the filter forces `EV_CLEAR`, so each transition is delivered
//!   once); between events it reports the last level, starting from one
//!   sysctl read at creation. A poll waits for an event as long as the
//!   source's timeout says (zero by default: never blocks). The filter
//!   needs no privilege (`memorystatus_knote_register` only rejects flags
//!   outside `EVFILT_MEMORYSTATUS_ALL_MASK`, with `ENOTSUP`); the filter
//!   number is from `bsd/sys/event_private.h` (not in the SDK's public
//!   `event.h`). A kqueue is not inherited across `fork`: a child makes its
//!   own source. `EVFILT_VM` (-12, `NOTE_VM_PRESSURE`) is the older,
//!   single-level filter and is not used.

use super::abi::xnu;
use super::consts::{kevent as kev, memorystatus};
use super::errno as e;
use crate::errno::Result;

/// The system's memory-pressure level.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PressureLevel {
    /// No pressure.
    Normal,
    /// Memory is getting short (the kernel's Warning or Urgent level).
    Warning,
    /// Memory is critically short.
    Critical,
}

impl PressureLevel {
    /// Decodes the sysctl's value; `None` for anything else.
    pub const fn from_raw(raw: i32) -> Option<Self> {
        match raw {
            memorystatus::PRESSURE_NORMAL => Some(PressureLevel::Normal),
            memorystatus::PRESSURE_WARN => Some(PressureLevel::Warning),
            memorystatus::PRESSURE_CRITICAL => Some(PressureLevel::Critical),
            _ => None,
        }
    }
}

/// A level change seen by [`MemoryPressure::poll`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PressureChange {
    /// The level at the previous poll, `None` at the first.
    pub from: Option<PressureLevel>,
    /// The level now.
    pub to: PressureLevel,
}

/// Where [`MemoryPressure`] reads the level (the sysctl on macOS; anything
/// in tests).
pub trait PressureSource {
    /// The current level.
    fn level(&mut self) -> Result<PressureLevel>;
}

/// Polls a [`PressureSource`] and reports changes.
#[derive(Debug)]
pub struct MemoryPressure<S> {
    source: S,
    last: Option<PressureLevel>,
}

impl<S: PressureSource> MemoryPressure<S> {
    /// A helper that has not polled yet.
    pub const fn new(source: S) -> Self {
        Self { source, last: None }
    }

    /// The level at the last successful poll.
    pub fn last(&self) -> Option<PressureLevel> {
        self.last
    }

    /// Reads the level and calls `on_change` if it differs from the last
    /// poll's (the first successful poll always counts as a change, from
    /// `None`). A failed read changes nothing and calls nothing.
    pub fn poll(&mut self, mut on_change: impl FnMut(PressureChange)) -> Result<PressureLevel> {
        let now = self.source.level()?;
        if self.last != Some(now) {
            on_change(PressureChange {
                from: self.last,
                to: now,
            });
            self.last = Some(now);
        }
        Ok(now)
    }
}

/// Checks a percentage read from `kern.memorystatus_level` (`EIO` outside
/// 0..=100).
pub fn percent(raw: i32) -> Result<u8> {
    u8::try_from(raw)
        .ok()
        .filter(|&p| p <= 100)
        .ok_or(xnu(e::EIO))
}

/// `struct kevent` of an LP64 process (32 bytes; `bsd/sys/event.h`,
/// `#pragma pack(4)`).
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct KEvent {
    /// `ident` (`uintptr_t`): 0 for the memorystatus filter.
    pub ident: u64,
    /// `filter`: `EVFILT_*`.
    pub filter: i16,
    /// `flags`: `EV_*`.
    pub flags: u16,
    /// `fflags`: filter flags (`NOTE_MEMORYSTATUS_*`).
    pub fflags: u32,
    /// `data` (`intptr_t`): the errno of an `EV_ERROR` receipt.
    pub data: i64,
    /// `udata`: opaque, 0.
    pub udata: u64,
}

const _: () = {
    assert!(core::mem::size_of::<KEvent>() == 32);
    assert!(core::mem::offset_of!(KEvent, ident) == 0);
    assert!(core::mem::offset_of!(KEvent, filter) == 8);
    assert!(core::mem::offset_of!(KEvent, flags) == 10);
    assert!(core::mem::offset_of!(KEvent, fflags) == 12);
    assert!(core::mem::offset_of!(KEvent, data) == 16);
    assert!(core::mem::offset_of!(KEvent, udata) == 24);
};

/// The change that registers for the three pressure levels.
pub const fn memorystatus_registration() -> KEvent {
    KEvent {
        ident: 0,
        filter: kev::EVFILT_MEMORYSTATUS,
        flags: kev::EV_ADD | kev::EV_ENABLE | kev::EV_RECEIPT,
        fflags: kev::NOTE_PRESSURE_NORMAL | kev::NOTE_PRESSURE_WARN | kev::NOTE_PRESSURE_CRITICAL,
        data: 0,
        udata: 0,
    }
}

/// Decodes the `EV_RECEIPT` answer to the registration: `EV_ERROR` with
/// `data` 0 is success, any other `data` the errno; an answer without
/// `EV_ERROR`, for another filter, or with a `data` that is no errno is
/// `EIO`.
pub fn registration_result(ev: &KEvent) -> Result<()> {
    let (filter, flags, data) = (ev.filter, ev.flags, ev.data);
    if filter != kev::EVFILT_MEMORYSTATUS || flags & kev::EV_ERROR == 0 {
        return Err(xnu(e::EIO));
    }
    match data {
        0 => Ok(()),
        d => match u16::try_from(d)
            .ok()
            .and_then(crate::errno::Errno::from_raw)
        {
            Some(errno) => Err(errno),
            None => Err(xnu(e::EIO)),
        },
    }
}

/// The level a delivered event reports, or `None` for an event that is no
/// pressure change (another filter, an error, no level bit). If several
/// level bits were set the worst wins.
pub fn event_level(ev: &KEvent) -> Option<PressureLevel> {
    let (filter, flags, fflags) = (ev.filter, ev.flags, ev.fflags);
    if filter != kev::EVFILT_MEMORYSTATUS || flags & kev::EV_ERROR != 0 {
        return None;
    }
    if fflags & kev::NOTE_PRESSURE_CRITICAL != 0 {
        Some(PressureLevel::Critical)
    } else if fflags & kev::NOTE_PRESSURE_WARN != 0 {
        Some(PressureLevel::Warning)
    } else if fflags & kev::NOTE_PRESSURE_NORMAL != 0 {
        Some(PressureLevel::Normal)
    } else {
        None
    }
}

/// `struct timespec { tv_sec; tv_nsec; }` for a kevent timeout, the
/// seconds saturating at `i64::MAX`.
pub fn timespec(d: core::time::Duration) -> [i64; 2] {
    [
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        i64::from(d.subsec_nanos()),
    ]
}

#[cfg(wrt_os = "macos")]
pub use imp::{KqueuePressure, SysctlPressure, available_memory_percent, pressure_level};

#[cfg(wrt_os = "macos")]
mod imp {
    use core::ptr;
    use core::time::Duration;

    use super::super::consts::sysctl;
    use super::super::sys;
    use super::{
        KEvent, PressureLevel, PressureSource, event_level, memorystatus_registration, percent,
        registration_result, timespec,
    };
    use crate::errno::{Errno, Result};

    /// Reads an int sysctl by name (`name` without a NUL).
    fn read_int(name: &[u8]) -> Result<i32> {
        debug_assert!(!name.contains(&0) && name.len() < sysctl::MAXPATHLEN);
        let mut value = [0u8; 4];
        let mut len = value.len();
        // SAFETY: `name` is `name.len()` readable bytes; `value` is writable
        // for `len` bytes; nothing is written to the kernel.
        unsafe {
            sys::sysctlbyname(
                name.as_ptr(),
                name.len(),
                value.as_mut_ptr(),
                &mut len,
                ptr::null(),
                0,
            )
        }?;
        if len != 4 {
            return Err(Errno::IO);
        }
        Ok(i32::from_ne_bytes(value))
    }

    /// The current memory-pressure level.
    pub fn pressure_level() -> Result<PressureLevel> {
        PressureLevel::from_raw(read_int(sysctl::PRESSURE_LEVEL_NAME)?).ok_or(Errno::IO)
    }

    /// The percentage of memory available (0..=100).
    pub fn available_memory_percent() -> Result<u8> {
        percent(read_int(sysctl::MEMORY_LEVEL_NAME)?)
    }

    /// Push notification of pressure changes through a kqueue (see the
    /// [module docs](super)). Closes its kqueue on drop.
    #[derive(Debug)]
    pub struct KqueuePressure {
        kq: i32,
        level: PressureLevel,
        timeout: Option<Duration>,
    }

    impl KqueuePressure {
        /// Opens a kqueue, registers for the three levels and reads the
        /// current level once (sysctl). `level()` then never blocks; see
        /// [`with_timeout`](Self::with_timeout).
        pub fn new() -> Result<Self> {
            let kq = sys::kqueue()?;
            let mut this = KqueuePressure {
                kq,
                level: PressureLevel::Normal,
                timeout: Some(Duration::ZERO),
            };
            let change = memorystatus_registration();
            let mut receipt = KEvent::default();
            let zero = timespec(Duration::ZERO);
            // SAFETY: one readable change, one writable event, a timespec;
            // all live across the call. On error `this` drops and closes.
            let n = unsafe {
                sys::kevent(
                    kq,
                    (&raw const change).cast(),
                    1,
                    (&raw mut receipt).cast(),
                    1,
                    zero.as_ptr().cast(),
                )
            }?;
            if n != 1 {
                return Err(Errno::IO);
            }
            registration_result(&receipt)?;
            // Not `KqueuePressure { level, ..this }`: that would copy the
            // fields and drop `this`, closing the kqueue being returned.
            this.level = pressure_level()?;
            Ok(this)
        }

        /// How long each [`level`](PressureSource::level) waits for an event:
        /// `Some(Duration::ZERO)` (the default) never blocks, `None` waits
        /// until the level changes.
        pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
            self.timeout = timeout;
            self
        }

        /// Waits up to `timeout` (`None`: forever) for one event and returns
        /// the new level, or `None` if no change arrived (timeout, or a
        /// signal interrupted the wait).
        pub fn next_change(&mut self, timeout: Option<Duration>) -> Result<Option<PressureLevel>> {
            let mut ev = KEvent::default();
            let ts = timeout.map(timespec);
            let ts_ptr = ts.as_ref().map_or(ptr::null(), |t| t.as_ptr().cast());
            // SAFETY: no changes; one writable event; `ts` outlives the call.
            let r =
                unsafe { sys::kevent(self.kq, ptr::null(), 0, (&raw mut ev).cast(), 1, ts_ptr) };
            match r {
                Ok(0) => Ok(None),
                Ok(_) => {
                    let level = event_level(&ev);
                    if let Some(l) = level {
                        self.level = l;
                    }
                    Ok(level)
                }
                Err(err) if err == Errno::INTR => Ok(None),
                Err(err) => Err(err),
            }
        }
    }

    impl PressureSource for KqueuePressure {
        fn level(&mut self) -> Result<PressureLevel> {
            self.next_change(self.timeout)?;
            Ok(self.level)
        }
    }

    impl Drop for KqueuePressure {
        fn drop(&mut self) {
            // SAFETY: the kqueue is ours and used by nothing else.
            let _ = unsafe { sys::close(self.kq) };
        }
    }

    /// The [`PressureSource`] of this machine (`sysctlbyname`).
    #[derive(Copy, Clone, Debug, Default)]
    pub struct SysctlPressure;

    impl PressureSource for SysctlPressure {
        fn level(&mut self) -> Result<PressureLevel> {
            pressure_level()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    extern crate std;
    use std::vec::Vec;

    #[test]
    fn level_decoding() {
        assert_eq!(PressureLevel::from_raw(1), Some(PressureLevel::Normal));
        assert_eq!(PressureLevel::from_raw(2), Some(PressureLevel::Warning));
        assert_eq!(PressureLevel::from_raw(4), Some(PressureLevel::Critical));
        for raw in [0, 3, 5, 8, -1] {
            assert_eq!(PressureLevel::from_raw(raw), None, "{raw}");
        }
        assert!(PressureLevel::Critical > PressureLevel::Warning);
        assert_eq!(percent(0), Ok(0));
        assert_eq!(percent(100), Ok(100));
        assert_eq!(percent(101), Err(xnu(e::EIO)));
        assert_eq!(percent(-1), Err(xnu(e::EIO)));
    }

    /// Replays raw sysctl values.
    struct Script(Vec<Result<i32>>);

    impl PressureSource for Script {
        fn level(&mut self) -> Result<PressureLevel> {
            let raw = self.0.remove(0)?;
            PressureLevel::from_raw(raw).ok_or(xnu(e::EIO))
        }
    }

    #[test]
    fn callbacks_fire_on_changes_only() {
        let fail = Err(Errno::from_raw(e::EINTR).unwrap());
        let mut m = MemoryPressure::new(Script(std::vec![
            Ok(1),
            Ok(1),
            Ok(2),
            fail,
            Ok(2),
            Ok(4),
            Ok(1),
            Ok(9)
        ]));
        let mut seen = Vec::new();
        let mut levels = Vec::new();
        for _ in 0..8 {
            levels.push(m.poll(|c| seen.push(c)).ok());
        }
        use PressureLevel::*;
        assert_eq!(
            levels,
            [
                Some(Normal),
                Some(Normal),
                Some(Warning),
                None,
                Some(Warning),
                Some(Critical),
                Some(Normal),
                None,
            ]
        );
        assert_eq!(
            seen,
            [
                PressureChange {
                    from: None,
                    to: Normal
                },
                PressureChange {
                    from: Some(Normal),
                    to: Warning
                },
                PressureChange {
                    from: Some(Warning),
                    to: Critical
                },
                PressureChange {
                    from: Some(Critical),
                    to: Normal
                },
            ]
        );
        assert_eq!(m.last(), Some(Normal));
    }

    fn bytes(ev: &KEvent) -> Vec<u8> {
        // SAFETY: KEvent is 32 bytes of plain fields without padding
        // (pinned by the const assertions).
        unsafe { core::slice::from_raw_parts((ev as *const KEvent).cast::<u8>(), 32) }.to_vec()
    }

    #[test]
    fn registration_bytes() {
        let b = bytes(&memorystatus_registration());
        assert_eq!(&b[0..8], &[0; 8], "ident 0");
        assert_eq!(i16::from_le_bytes([b[8], b[9]]), -14, "EVFILT_MEMORYSTATUS");
        assert_eq!(
            u16::from_le_bytes([b[10], b[11]]),
            0x45,
            "EV_ADD | EV_ENABLE | EV_RECEIPT"
        );
        assert_eq!(
            u32::from_le_bytes(b[12..16].try_into().unwrap()),
            7,
            "three levels"
        );
        assert_eq!(&b[16..32], &[0; 16], "data, udata");
        let ev = KEvent {
            data: 0x1122_3344_5566_7788,
            udata: 9,
            ..KEvent::default()
        };
        let b = bytes(&ev);
        assert_eq!(
            i64::from_le_bytes(b[16..24].try_into().unwrap()),
            0x1122_3344_5566_7788
        );
        assert_eq!(u64::from_le_bytes(b[24..32].try_into().unwrap()), 9);
    }

    fn receipt(filter: i16, flags: u16, data: i64) -> KEvent {
        KEvent {
            filter,
            flags,
            data,
            ..KEvent::default()
        }
    }

    #[test]
    fn receipt_decoding() {
        assert_eq!(registration_result(&receipt(-14, 0x4000, 0)), Ok(()));
        assert_eq!(
            registration_result(&receipt(-14, 0x4045, 45)),
            Err(xnu(e::ENOTSUP))
        );
        assert_eq!(
            registration_result(&receipt(-14, 0x4000, 22)),
            Err(xnu(e::EINVAL))
        );
        // Not a receipt, another filter, a data word that is no errno.
        assert_eq!(
            registration_result(&receipt(-14, 0x45, 0)),
            Err(xnu(e::EIO))
        );
        assert_eq!(
            registration_result(&receipt(-12, 0x4000, 0)),
            Err(xnu(e::EIO))
        );
        assert_eq!(
            registration_result(&receipt(-14, 0x4000, -1)),
            Err(xnu(e::EIO))
        );
        assert_eq!(
            registration_result(&receipt(-14, 0x4000, 1 << 20)),
            Err(xnu(e::EIO))
        );
    }

    #[test]
    fn event_decoding() {
        let ev = |filter: i16, flags: u16, fflags: u32| KEvent {
            filter,
            flags,
            fflags,
            ..KEvent::default()
        };
        use PressureLevel::*;
        assert_eq!(event_level(&ev(-14, 0x20, 1)), Some(Normal));
        assert_eq!(event_level(&ev(-14, 0x20, 2)), Some(Warning));
        assert_eq!(event_level(&ev(-14, 0x20, 4)), Some(Critical));
        assert_eq!(event_level(&ev(-14, 0x20, 6)), Some(Critical), "worst wins");
        assert_eq!(event_level(&ev(-14, 0x20, 3)), Some(Warning));
        assert_eq!(event_level(&ev(-14, 0x20, 8)), None, "LOW_SWAP is no level");
        assert_eq!(event_level(&ev(-14, 0x4020, 4)), None, "an error event");
        assert_eq!(event_level(&ev(-12, 0x20, 4)), None, "another filter");
        assert_eq!(timespec(core::time::Duration::new(3, 5)), [3, 5]);
        assert_eq!(
            timespec(core::time::Duration::new(u64::MAX, 999_999_999)),
            [i64::MAX, 999_999_999]
        );
        assert_eq!(timespec(core::time::Duration::ZERO), [0, 0]);
    }
}
