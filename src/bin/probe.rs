//! `probe`: prints what this machine offers the platform layer and runs a
//! short self-check of both traits (the conformance checks that need no
//! fault isolation; the full suite runs in the tests).
//!
//! Run natively: `cargo run --features std,conformance --bin probe`;
//! `scripts/probe` also runs it under qemu-aarch64 (`-cpu max` and
//! `-cpu cortex-a57`). Exit status: 0 when every check passed.

#[cfg(target_os = "linux")]
fn main() {
    use wrt_platform::conformance::{FUTEX_CHECKS, PAGE_CHECKS, StdHarness, Verdict};
    use wrt_platform::os::linux::probe::Thp;
    use wrt_platform::os::linux::{AuxvSource, Capabilities, LinuxFutex, LinuxPages};
    println!(
        "wrt-platform probe: {} on {}",
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    let caps = match Capabilities::detect() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("capability probe failed: {e}");
            std::process::exit(1);
        }
    };
    // Without an auxiliary vector the hardening features are unknown, and
    // the library treats them as absent: say both.
    let known = caps.auxv.source != AuxvSource::Probed;
    let yes_no = |b: bool| match (b, known) {
        (true, _) => "present",
        (false, true) => "absent",
        (false, false) => "absent (unknown: no auxiliary vector)",
    };
    let source = match caps.auxv.source {
        AuxvSource::Prctl => "prctl(PR_GET_AUXV)",
        AuxvSource::Proc => "/proc/self/auxv",
        AuxvSource::Probed => {
            "none (PR_GET_AUXV and /proc/self/auxv unavailable): page size measured \
             with mmap/mprotect, hardening features unknown and treated as absent"
        }
    };
    println!("  auxv source    {source}");
    println!("  page size      {}", caps.auxv.page_size);
    println!("  MTE            {}", yes_no(caps.mte));
    println!("  BTI            {}", yes_no(caps.bti));
    println!("  PAC            {}", yes_no(caps.pac));
    println!("  futex2         {}", yes_no(caps.futex2));
    let thp = match caps.thp {
        Thp::Always => "always",
        Thp::Madvise => "madvise",
        Thp::Never => "never",
        Thp::Unavailable => "unavailable",
    };
    println!("  THP            {thp}");
    println!("  AT_HWCAP       {:#x}", caps.auxv.hwcap);
    println!("  AT_HWCAP2      {:#x}", caps.auxv.hwcap2);

    let pages = match LinuxPages::new() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("LinuxPages::new failed: {e}");
            std::process::exit(1);
        }
    };
    let harness = StdHarness::default();
    let (mut passed, mut skipped, mut failed) = (0, 0, 0);
    let mut report = |kind: &str, name: &str, outcome: Result<Verdict, _>| match outcome {
        Ok(Verdict::Passed) => {
            passed += 1;
            println!("  {kind}::{name} ... passed");
        }
        Ok(Verdict::Skipped(why)) => {
            skipped += 1;
            println!("  {kind}::{name} ... skipped ({why}; run by the test suite)");
        }
        Err(e) => {
            failed += 1;
            println!("  {kind}::{name} ... FAILED: {e}");
        }
    };
    println!("self-check: PageAllocator = LinuxPages, FutexLike = LinuxFutex");
    for (name, check) in PAGE_CHECKS {
        report("page", name, check(&pages, &harness));
    }
    for (name, check) in FUTEX_CHECKS {
        report("futex", name, check(&LinuxFutex, &harness));
    }
    println!("self-check: {passed} passed, {failed} failed, {skipped} skipped");
    std::process::exit(if failed == 0 { 0 } else { 1 });
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("probe: this platform's backend does not execute on this build; nothing to probe");
    std::process::exit(2);
}
