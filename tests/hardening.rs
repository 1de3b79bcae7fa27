//! Hardening that really traps, checked in forked children: MTE tag-check
//! faults (SEGV_MTESERR), BTI landing pads on sealed code pages (SIGILL),
//! PAC-signed return addresses (a corrupted one faults), W^X for code
//! pages. Under `qemu-aarch64-static -cpu max` the traps fire; under
//! `-cpu cortex-a57` (no MTE, BTI, PAC) the same tests check the clean
//! fallback: NOTSUP, untagged memory, and the hijack that PAC would have
//! stopped going through. On x86_64 the portable parts run (code pages,
//! W^X, NOTSUP for BTI/MTE).
#![cfg(target_os = "linux")]

use wrt_platform::Errno;
use wrt_platform::code::CodeRegion;
use wrt_platform::os::linux::{Capabilities, LinuxPages};

/// How a forked child ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// Returned normally with this value.
    Returned(u64),
    /// Died of this signal, with this `si_code`.
    Signal(i32, i32),
}

extern "C" fn report_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    let base = if sig == libc::SIGSEGV {
        100
    } else if sig == libc::SIGILL {
        150
    } else {
        200
    };
    // SAFETY: async-signal-safe exit of the child.
    unsafe { libc::_exit(base + code) };
}

/// Runs `f` in a child that reports SIGSEGV/SIGILL/SIGBUS with their
/// si_code, or `f`'s value (0..=99) when it returns.
fn in_child(f: impl FnOnce() -> u64) -> End {
    // SAFETY: the child runs `f` and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        for sig in [libc::SIGSEGV, libc::SIGILL, libc::SIGBUS] {
            // SAFETY: all-zero is a valid sigaction; fields set below.
            let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
            sa.sa_sigaction = report_signal as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO;
            // SAFETY: installs the reporting handler in the child.
            unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
        }
        let v = f();
        // SAFETY: leaves the child.
        unsafe { libc::_exit(v.min(99) as i32) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "child died without reporting: {status:#x}"
    );
    match libc::WEXITSTATUS(status) {
        v @ 0..=99 => End::Returned(v as u64),
        v @ 100..=149 => End::Signal(libc::SIGSEGV, v - 100),
        v @ 150..=199 => End::Signal(libc::SIGILL, v - 150),
        v => End::Signal(libc::SIGBUS, v - 200),
    }
}

/// What the test expects of the CPU (see tests/linux_backend.rs).
fn hardened_cpu() -> bool {
    let caps = Capabilities::detect().unwrap();
    match std::env::var("WRT_EXPECT_CPU").as_deref() {
        Ok("max") => assert!(
            caps.mte && caps.bti && caps.pac,
            "-cpu max lacks MTE/BTI/PAC"
        ),
        Ok("cortex-a57") => assert!(!caps.mte && !caps.bti && !caps.pac),
        _ if cfg!(target_arch = "x86_64") => {}
        _ => panic!("set WRT_EXPECT_CPU=max|cortex-a57 under qemu (scripts/test does)"),
    }
    caps.mte && caps.bti && caps.pac
}

/// Instructions that return 42: `bti c; mov x0, #42; ret` on aarch64, with
/// the `mov` (not a landing pad) at offset 4; `mov eax, 42; ret` on x86_64.
fn code_returning_42() -> Vec<u8> {
    if cfg!(target_arch = "aarch64") {
        [0xd503_245f_u32, 0xd280_0540, 0xd65f_03c0]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect()
    } else {
        vec![0xb8, 42, 0, 0, 0, 0xc3]
    }
}

fn call(region: &CodeRegion<LinuxPages>, offset: usize) -> u64 {
    let entry = region.entry(offset).expect("sealed");
    // SAFETY: the region holds the code above, sealed read-execute; the
    // entry is an instruction boundary of a function with this signature.
    let f: extern "C" fn() -> u64 = unsafe { std::mem::transmute(entry.as_ptr()) };
    f()
}

fn region() -> CodeRegion<LinuxPages> {
    let mut r = CodeRegion::new(LinuxPages::new().unwrap(), 4096).unwrap();
    let code = code_returning_42();
    r.bytes_mut().unwrap()[..code.len()].copy_from_slice(&code);
    r
}

/// Sealed code runs; it is never writable and executable at once.
#[test]
fn code_pages_run_after_sealing_and_refuse_writes() {
    let mut r = region();
    r.seal(false).unwrap();
    assert_eq!(call(&r, 0), 42);
    assert_eq!(r.bytes_mut().err(), Some(Errno::ACCES));
    assert_eq!(r.seal(false), Err(Errno::ACCES));
}

/// BTI: an indirect call to the landing pad works; to the next
/// instruction it traps (SIGILL) on a BTI CPU. Without BTI, sealing with
/// BTI is refused and the unguarded call goes through.
#[test]
fn bti_pages_trap_indirect_calls_off_the_landing_pad() {
    let hardened = hardened_cpu();
    let mut r = region();
    if !hardened || cfg!(target_arch = "x86_64") {
        assert_eq!(r.seal(true), Err(Errno::NOTSUP));
        r.seal(false).unwrap();
        if cfg!(target_arch = "aarch64") {
            assert_eq!(
                in_child(|| call(&r, 4)),
                End::Returned(42),
                "no BTI: the call goes through"
            );
        }
        return;
    }
    r.seal(true).unwrap();
    assert_eq!(call(&r, 0), 42, "landing on `bti c` works");
    match in_child(|| call(&r, 4)) {
        End::Signal(libc::SIGILL, _) => {}
        other => panic!("an indirect call past the landing pad did not trap: {other:?}"),
    }
}

/// No mapping of this process is writable and executable at once, after
/// code regions were created and sealed.
#[test]
fn no_mapping_is_writable_and_executable() {
    let mut r = region();
    r.seal(false).unwrap();
    assert_eq!(call(&r, 0), 42);
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let wx: Vec<&str> = maps
        .lines()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|p| p.starts_with("rwx"))
        })
        .collect();
    assert!(wx.is_empty(), "writable and executable mappings: {wx:#?}");
    let base = r.entry(0).unwrap().as_ptr() as usize;
    let ours = maps.lines().find(|l| {
        let (lo, hi) = l.split_once(' ').unwrap().0.split_once('-').unwrap();
        let (lo, hi) = (
            usize::from_str_radix(lo, 16).unwrap(),
            usize::from_str_radix(hi, 16).unwrap(),
        );
        lo <= base && base < hi
    });
    assert!(
        ours.is_some_and(|l| l.split_whitespace().nth(1) == Some("r-xp")),
        "{ours:?}"
    );
}

#[cfg(target_arch = "aarch64")]
mod aarch64 {
    use super::*;
    use wrt_platform::os::linux::mte::{self, TagCheck};
    use wrt_platform::wasm::memory::{Bounds, LinearMemory, MemoryConfig, MemoryError};
    use wrt_platform::{PageAllocator, Protection, Reservation, ReserveOptions};

    const SEGV_MTESERR: i32 = 9;

    /// Right tag: works. Wrong tag: SIGSEGV with SEGV_MTESERR, at once
    /// (sync mode). Without MTE everything is NOTSUP and memory is untagged.
    #[test]
    fn wrong_tag_access_faults_with_segv_mteserr() {
        let hardened = hardened_cpu();
        if !hardened {
            assert!(!mte::available());
            assert_eq!(mte::enable(TagCheck::Sync, 0xfffe), Err(Errno::NOTSUP));
            let mut cfg = MemoryConfig::new(1);
            cfg.mte = true;
            let m = LinearMemory::new(LinuxPages::new().unwrap(), &cfg).unwrap();
            assert_eq!(m.tag(), None, "degrades to untagged");
            m.fill(0, 1, 65536).unwrap();
            return;
        }
        let end = in_child(|| {
            mte::enable(TagCheck::Sync, 0xfffe).unwrap();
            let mut cfg = MemoryConfig::new(1);
            cfg.mte = true;
            cfg.bounds = Bounds::Explicit;
            cfg.maximum_pages = Some(2);
            let m = LinearMemory::new(LinuxPages::new().unwrap(), &cfg).unwrap();
            let tag = m.tag().expect("tagged");
            let p = m.base().as_ptr();
            // SAFETY: right tag, committed page.
            unsafe { p.wrapping_add(100).write_volatile(7) };
            // SAFETY: as above.
            if unsafe { p.wrapping_add(100).read_volatile() } != 7 {
                return 1;
            }
            let wrong = mte::with_tag(p, tag ^ 1);
            // SAFETY: deliberately the wrong tag: must fault here.
            unsafe { wrong.wrapping_add(100).read_volatile() };
            2 // the wrong-tag read went through
        });
        assert_eq!(end, End::Signal(libc::SIGSEGV, SEGV_MTESERR));
    }

    /// The tag guard (the OS page after a tagged memory's maximum) faults
    /// for every thread, whatever its tag-check mode: with synchronous
    /// checks, with asynchronous ones, and with none (a thread created
    /// before `enable`). It is inaccessible, so the fault is a protection
    /// fault (SEGV_ACCERR), taken before any tag check (issue 15, defect 4).
    #[test]
    fn tag_guard_faults_for_every_thread() {
        if !hardened_cpu() {
            return; // untagged memory: the guard is a plain PROT_NONE page
        }
        // <linux/prctl.h>; tag checks off (PR_MTE_TCF_NONE), tags 1..15.
        const PR_SET_TAGGED_ADDR_CTRL: libc::c_int = 55;
        const NO_CHECKS: libc::c_ulong = 1 | (0xfffe << 3);
        const SEGV_ACCERR: i32 = 2;
        for mode in ["sync", "async", "none"] {
            let end = in_child(|| {
                let check = if mode == "async" {
                    TagCheck::Async
                } else {
                    TagCheck::Sync
                };
                mte::enable(check, 0xfffe).unwrap();
                let mut cfg = MemoryConfig::new(1);
                cfg.mte = true;
                cfg.bounds = Bounds::Explicit;
                cfg.maximum_pages = Some(1);
                let m = LinearMemory::new(LinuxPages::new().unwrap(), &cfg).unwrap();
                if mode == "none" {
                    // SAFETY: a plain prctl: this thread stops checking tags.
                    let rc = unsafe { libc::prctl(PR_SET_TAGGED_ADDR_CTRL, NO_CHECKS, 0, 0, 0) };
                    if rc != 0 {
                        return 2;
                    }
                }
                let past = m.base().as_ptr().wrapping_add(65536);
                // SAFETY: deliberately one byte past the maximum: must fault.
                unsafe { past.write_volatile(1) };
                // SAFETY: as above.
                unsafe { past.read_volatile() };
                1 // went through
            });
            assert_eq!(
                end,
                End::Signal(libc::SIGSEGV, SEGV_ACCERR),
                "{mode} checks: one byte past the maximum"
            );
        }
    }

    /// Tags survive grow (old pages keep the tag, new pages get it); reset
    /// zeroes and re-tags; raw decommit drops data as the kernel documents.
    #[test]
    fn tags_survive_grow_and_reset() {
        if !hardened_cpu() {
            return;
        }
        let end = in_child(|| {
            mte::enable(TagCheck::Sync, 0xfffe).unwrap();
            let mut cfg = MemoryConfig::new(1);
            cfg.mte = true;
            let m = LinearMemory::new(LinuxPages::new().unwrap(), &cfg).unwrap();
            let tag = m.tag().unwrap();
            let p = m.base().as_ptr();
            m.fill(0, 0xAB, 65536).unwrap();
            if m.grow(2) != Ok(1) {
                return 1;
            }
            // SAFETY: committed, tagged pages of `m`.
            let tag_at = |off: usize| unsafe { mte::load_tag(p.wrapping_add(off)) };
            let tags = [tag_at(0), tag_at(65536), tag_at(3 * 65536 - 16)];
            if tags != [Ok(tag); 3] {
                return 2;
            }
            m.fill(65536, 0xCD, 2 * 65536).unwrap(); // through the tagged base
            // SAFETY: nothing else uses `m`.
            if unsafe { m.reset(0) }.is_err() || m.size_pages() != 1 {
                return 3;
            }
            // SAFETY: committed page of `m`.
            let byte = unsafe { p.wrapping_add(4000).read_volatile() };
            if (tag_at(0), byte) != (Ok(tag), 0) {
                return 4;
            }
            0
        });
        assert_eq!(end, End::Returned(0));
    }

    /// Reset then grow hands out zeroed pages on a tagged memory, as on an
    /// untagged one: the pages past the initial size that reset made
    /// inaccessible lose their contents (issue 15, defect 2). Without MTE
    /// the same sequence runs on the untagged fallback.
    #[test]
    fn tagged_reset_then_grow_reads_zero() {
        let hardened = hardened_cpu();
        let end = in_child(|| {
            if hardened {
                mte::enable(TagCheck::Sync, 0xfffe).unwrap();
            }
            let mut cfg = MemoryConfig::new(1);
            cfg.mte = true;
            cfg.bounds = Bounds::Explicit;
            cfg.maximum_pages = Some(4);
            let Ok(m) = LinearMemory::new(LinuxPages::new().unwrap(), &cfg) else {
                return 1;
            };
            if m.tag().is_some() != hardened {
                return 2;
            }
            if m.grow(3) != Ok(1) || m.fill(0, 0xAB, 4 * 65536).is_err() {
                return 3;
            }
            // SAFETY: nothing else uses `m`.
            if unsafe { m.reset(0) }.is_err() || m.size_pages() != 1 {
                return 4;
            }
            if m.grow(3) != Ok(1) {
                return 5;
            }
            // SAFETY: four Wasm pages are committed, reached through the
            // memory's (tagged) base.
            let bytes = unsafe { std::slice::from_raw_parts(m.base().as_ptr(), 4 * 65536) };
            match bytes.iter().position(|b| *b != 0) {
                None => 0,
                Some(at) if at < 65536 => 6, // the initial page kept data
                Some(_) => 7,                // a re-grown page kept data
            }
        });
        assert_eq!(end, End::Returned(0), "6/7: reset left data behind");
    }

    /// `LinuxPages` whose `decommit` is refused (as `MADV_DONTNEED` is
    /// EINVAL under `mlockall(MCL_FUTURE)`).
    struct NoDecommit(LinuxPages);

    impl PageAllocator for NoDecommit {
        fn page_size(&self) -> usize {
            self.0.page_size()
        }
        fn reserve(&self, opts: &ReserveOptions) -> Result<Reservation, Errno> {
            self.0.reserve(opts)
        }
        unsafe fn commit(&self, r: &Reservation, o: usize, l: usize) -> Result<(), Errno> {
            // SAFETY: forwarded contract.
            unsafe { self.0.commit(r, o, l) }
        }
        unsafe fn protect(
            &self,
            r: &Reservation,
            o: usize,
            l: usize,
            p: Protection,
        ) -> Result<(), Errno> {
            // SAFETY: forwarded contract.
            unsafe { self.0.protect(r, o, l, p) }
        }
        unsafe fn decommit(&self, _: &Reservation, _: usize, _: usize) -> Result<(), Errno> {
            Err(Errno::INVAL)
        }
        unsafe fn release(&self, r: Reservation) -> Result<(), Errno> {
            // SAFETY: forwarded contract.
            unsafe { self.0.release(r) }
        }
    }

    /// As above with decommit refused: a tagged reset still zeroes, and
    /// grow zeroes the stale pages it brings back (issue 15, defect 5).
    #[test]
    fn tagged_reset_without_decommit_then_grow_reads_zero() {
        let hardened = hardened_cpu();
        let end = in_child(|| {
            if hardened {
                mte::enable(TagCheck::Sync, 0xfffe).unwrap();
            }
            let mut cfg = MemoryConfig::new(1);
            cfg.mte = true;
            cfg.bounds = Bounds::Explicit;
            cfg.maximum_pages = Some(4);
            let Ok(m) = LinearMemory::new(NoDecommit(LinuxPages::new().unwrap()), &cfg) else {
                return 1;
            };
            if m.tag().is_some() != hardened {
                return 2;
            }
            if m.grow(3) != Ok(1) || m.fill(0, 0xAB, 4 * 65536).is_err() {
                return 3;
            }
            // SAFETY: nothing else uses `m`.
            if unsafe { m.reset(0) } != Ok(()) || m.size_pages() != 1 {
                return 4;
            }
            if m.grow(3) != Ok(1) {
                return 5;
            }
            // SAFETY: four Wasm pages are committed, reached through the
            // memory's (tagged) base.
            let bytes = unsafe { std::slice::from_raw_parts(m.base().as_ptr(), 4 * 65536) };
            match bytes.iter().position(|b| *b != 0) {
                None => 0,
                Some(at) if at < 65536 => 6,
                Some(_) => 7,
            }
        });
        assert_eq!(end, End::Returned(0), "4: reset failed; 6/7: data left");
    }

    /// A tagged memory never gets tag 0 (which would turn tag checking off
    /// for it): with Linux's default include mask (no `enable` in this
    /// thread) IRG can only produce 0, so creation fails; an include mask
    /// allowing only tag 0 is refused (issue 15, defect 3).
    #[test]
    fn tagged_memory_never_gets_tag_zero() {
        if !hardened_cpu() {
            assert_eq!(mte::enable(TagCheck::Sync, 0x0001), Err(Errno::NOTSUP));
            return;
        }
        let end = in_child(|| {
            let mut cfg = MemoryConfig::new(1);
            cfg.mte = true;
            cfg.bounds = Bounds::Explicit;
            cfg.maximum_pages = Some(1);
            // The default include mask: this child never called `enable`.
            match LinearMemory::new(LinuxPages::new().unwrap(), &cfg) {
                Err(MemoryError::Invalid) => {}
                Ok(m) if m.tag() == Some(0) => return 1,
                _ => return 2,
            }
            for include in [0x0000, 0x0001] {
                if mte::enable(TagCheck::Sync, include) != Err(Errno::INVAL) {
                    return 3;
                }
            }
            if mte::enable(TagCheck::Sync, 0x0003).is_err() {
                return 4;
            }
            // Only tag 1 is allowed besides 0: every memory gets tag 1.
            for _ in 0..16 {
                match LinearMemory::new(LinuxPages::new().unwrap(), &cfg) {
                    Ok(m) if m.tag() == Some(1) => {}
                    _ => return 5,
                }
            }
            0
        });
        assert_eq!(end, End::Returned(0), "1: tag 0; 3: mask 0x0001 accepted");
    }
}

#[cfg(target_arch = "aarch64")]
mod pac {
    use super::*;

    // Test-only routines (not in the library): a caller that signs its
    // return address and calls a victim; the victim signs LR, and with
    // `corrupt` = 1 rewrites its saved LR to skip two of the caller's
    // instructions before authenticating and returning.
    //
    // uint64_t wrt_test_pac_caller(uint64_t corrupt)
    //   returns 1 when the victim returned where it was called from,
    //   2 when the corrupted return address was taken (no PAC);
    //   with PAC the victim's `autiasp` (FEAT_FPAC: SIGILL) or its `ret`
    //   to the poisoned address (SIGSEGV) traps instead.
    core::arch::global_asm!(
        "    .text",
        "    .p2align 2",
        "wrt_test_pac_victim:",
        "    hint #34", // bti c
        "    hint #25", // paciasp: sign LR with SP as modifier
        "    stp  x29, x30, [sp, #-16]!",
        "    cbz  x0, 1f",
        "    ldr  x9, [sp, #8]", // the saved (signed) return address
        "    add  x9, x9, #8",   // corrupt it: skip `mov x0,#1; b`
        "    str  x9, [sp, #8]",
        "1:  ldp  x29, x30, [sp], #16",
        "    hint #29", // autiasp: authenticate LR
        "    ret",
        "    .globl wrt_test_pac_caller",
        "    .p2align 2",
        "wrt_test_pac_caller:",
        "    hint #34", // bti c
        "    hint #25", // paciasp
        "    stp  x29, x30, [sp, #-16]!",
        "    bl   wrt_test_pac_victim",
        "    mov  x0, #1", // the genuine return lands here
        "    b    2f",
        "    mov  x0, #2", // the corrupted return lands here
        "2:  ldp  x29, x30, [sp], #16",
        "    hint #29", // autiasp
        "    ret",
    );

    unsafe extern "C" {
        fn wrt_test_pac_caller(corrupt: u64) -> u64;
    }

    #[test]
    fn corrupted_return_address_faults_with_pac() {
        let hardened = hardened_cpu();
        // SAFETY: the routine above; without corruption it just returns 1.
        assert_eq!(unsafe { wrt_test_pac_caller(0) }, 1);
        // SAFETY: in a child; the corrupted return either traps or lands
        // on the caller's second `mov`.
        let end = in_child(|| unsafe { wrt_test_pac_caller(1) });
        if hardened {
            assert!(
                matches!(end, End::Signal(libc::SIGILL | libc::SIGSEGV, _)),
                "PAC did not stop the corrupted return: {end:?}"
            );
        } else {
            assert_eq!(end, End::Returned(2), "without PAC the hijack goes through");
        }
    }
}
