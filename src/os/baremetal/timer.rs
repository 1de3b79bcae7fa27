//! The generic timer at EL1: the monotonic clock (`CNTVCT_EL0` /
//! `CNTFRQ_EL0`) behind futex deadlines, the FEAT_WFxT check, and the timer
//! event stream that bounds a `wfe` where `wfet` does not exist.
//!
//! # The event stream
//! `wfe` sleeps until an event; on real hardware nothing guarantees one
//! arrives before a deadline. With FEAT_WFxT the futex sleeps in
//! `wfet <deadline>` instead. Without it, the generic timer's event stream
//! (`CNTKCTL_EL1.EVNTEN`) generates an event whenever bit `EVNTI` of the
//! counter goes from 0 to 1, so no `wfe` lasts longer than one period.
//! [`enable_event_stream`] turns it on with a period of at most 100 µs (the
//! rate Linux uses, `ARCH_TIMER_EVT_STREAM_FREQ` = 10 kHz). The register is
//! per core: the futex turns the stream on for the core it runs on the
//! first time a timed wait needs it there, and never turns it off; call
//! [`enable_event_stream`] at boot on every core to choose the moment
//! yourself (an existing setting is kept).

use core::sync::atomic::{AtomicU8, Ordering};
use core::time::Duration;

use crate::arch::baremetal as arch;

/// `CNTKCTL_EL1.EVNTEN`: the event stream is on.
pub const CNTKCTL_EVNTEN: u64 = 1 << 2;
/// `CNTKCTL_EL1.EVNTDIR`: events on 1-to-0 transitions (we use 0-to-1).
pub const CNTKCTL_EVNTDIR: u64 = 1 << 3;
/// `CNTKCTL_EL1.EVNTI`: which counter bit triggers (bits 7:4).
pub const CNTKCTL_EVNTI_SHIFT: u32 = 4;
/// The `EVNTI` field mask.
pub const CNTKCTL_EVNTI_MASK: u64 = 0xf << CNTKCTL_EVNTI_SHIFT;
/// The longest event-stream period [`enable_event_stream`] picks.
pub const EVENT_STREAM_PERIOD: Duration = Duration::from_micros(100);

/// The virtual count (`CNTVCT_EL0`): monotonic, at [`frequency`] Hz.
#[inline]
pub fn counter() -> u64 {
    crate::arch::counter::now()
}

/// The counter frequency in Hz (`CNTFRQ_EL0`, as firmware programmed it;
/// never 0 on a working system).
#[inline]
pub fn frequency() -> u64 {
    crate::arch::counter::frequency()
}

/// The counter as a [`Duration`] since it read zero (at reset).
pub fn now() -> Duration {
    ticks_to_duration(counter(), frequency())
}

/// `ticks` counter ticks at `freq` Hz as a [`Duration`] (rounded down).
pub fn ticks_to_duration(ticks: u64, freq: u64) -> Duration {
    let freq = freq.max(1);
    let ns = u128::from(ticks) * 1_000_000_000 / u128::from(freq);
    Duration::new(
        u64::try_from(ns / 1_000_000_000).unwrap_or(u64::MAX),
        (ns % 1_000_000_000) as u32,
    )
}

/// `d` in counter ticks at `freq` Hz, rounded up (so a deadline is never
/// early); `None` when it does not fit in 64 bits.
pub fn duration_to_ticks(d: Duration, freq: u64) -> Option<u64> {
    let ticks = (d.as_nanos() * u128::from(freq)).div_ceil(1_000_000_000);
    u64::try_from(ticks).ok()
}

/// Whether the CPU implements FEAT_WFxT (`ID_AA64ISAR2_EL1.WFxT` = 2:
/// `wfet`/`wfit`). Read once and cached: the system is assumed to have the
/// same ID registers on every core (as Linux assumes for this feature).
pub fn has_wfxt() -> bool {
    // 0 = not read yet, 1 = no, 2 = yes.
    static CACHE: AtomicU8 = AtomicU8::new(0);
    match CACHE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = (arch::id_aa64isar2() & 0xf) >= 2;
            CACHE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

/// Whether this core's timer event stream is on (`CNTKCTL_EL1.EVNTEN`).
pub fn event_stream_enabled() -> bool {
    arch::cntkctl() & CNTKCTL_EVNTEN != 0
}

/// The `EVNTI` value for a period of at most [`EVENT_STREAM_PERIOD`] at
/// `freq` Hz: an event every `2^(EVNTI + 1)` ticks.
pub fn event_stream_evnti(freq: u64) -> u64 {
    let per_period = (freq / 10_000).max(1); // ticks in 100 µs
    u64::from(per_period.ilog2().saturating_sub(1)).min(15)
}

/// Turns this core's timer event stream on (period at most 100 µs, see the
/// [module docs](self)) unless it is on already, in which case the
/// existing setting is kept. The other bits of `CNTKCTL_EL1` (EL0 access
/// to the counter and timers) are not changed. EL1 only.
pub fn enable_event_stream() {
    let ctl = arch::cntkctl();
    if ctl & CNTKCTL_EVNTEN != 0 {
        return;
    }
    let evnti = event_stream_evnti(frequency());
    let new = (ctl & !(CNTKCTL_EVNTI_MASK | CNTKCTL_EVNTDIR))
        | (evnti << CNTKCTL_EVNTI_SHIFT)
        | CNTKCTL_EVNTEN;
    // SAFETY: this backend runs at EL1 (module contract of `baremetal`);
    // only EVNTEN, EVNTDIR and EVNTI change.
    unsafe { arch::set_cntkctl(new) };
}
