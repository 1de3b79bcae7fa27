//! Runs the wrt-platform bare-metal backend for real on
//! `qemu-system-aarch64 -M virt -cpu max -smp 4 -nographic -semihosting`:
//! boots at EL1, brings up the other three cores with PSCI `CPU_ON`, and
//! runs the shared conformance suite, multi-core wait/wake tests, the
//! bump allocator's limits and (with the C clients) Wasm traps through
//! the EL1 exception vector (feature `baremetal`, the default), or the
//! Zephyr backend against a fixture of the Zephyr symbols and `svc #3`
//! (feature `zephyr`). Results go out through semihosting, one line per
//! test, then `<label>: N passed, M failed, K skipped`; QEMU exits with 0
//! when nothing failed. `scripts/baremetal-test` builds and runs both.
#![cfg_attr(target_os = "none", no_std, no_main)]
// Test results are the conformance suite's `Outcome`, whose `Failure`
// carries its message inline (no allocator here); size does not matter.
#![allow(clippy::result_large_err)]

#[cfg(target_os = "none")]
macro_rules! println {
    ($($t:tt)*) => { $crate::rt::print(format_args!("{}\n", format_args!($($t)*))) };
}

#[cfg(target_os = "none")]
mod mmu;
#[cfg(target_os = "none")]
mod rt;
#[cfg(target_os = "none")]
mod runner;
#[cfg(target_os = "none")]
mod sched;

#[cfg(all(target_os = "none", feature = "baremetal"))]
mod baremetal_suite;
#[cfg(all(target_os = "none", feature = "c-clients"))]
mod c_clients;
#[cfg(all(target_os = "none", feature = "baremetal", feature = "c-clients"))]
mod traps;
#[cfg(all(target_os = "none", feature = "zephyr"))]
mod zephyr_fixture;
#[cfg(all(target_os = "none", feature = "zephyr"))]
mod zephyr_suite;

/// The tests of this image; returns the exit status (0: nothing failed).
#[cfg(target_os = "none")]
fn main() -> u32 {
    #[cfg(feature = "baremetal")]
    let status = baremetal_suite::run();
    #[cfg(feature = "zephyr")]
    let status = zephyr_suite::run();
    status
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!(
        "wrt-baremetal-tests runs only as an aarch64-unknown-none image under \
         qemu-system-aarch64; use scripts/baremetal-test"
    );
    std::process::exit(2);
}
