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
//! There is no push notification here: libSystem's dispatch source rests on
//! a private kqueue filter (`EVFILT_MEMORYSTATUS`), so the helper polls and
//! the caller picks the interval.

use super::abi::xnu;
use super::consts::memorystatus;
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

#[cfg(wrt_os = "macos")]
pub use imp::{SysctlPressure, available_memory_percent, pressure_level};

#[cfg(wrt_os = "macos")]
mod imp {
    use core::ptr;

    use super::super::consts::sysctl;
    use super::super::sys;
    use super::{PressureLevel, PressureSource, percent};
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
}
