//! What the archive is and what the machine offers: the ABI version, the
//! platform report, and the per-thread MTE switch tagged memories need.

use super::{WRT_E_INVALID, WRT_E_NOT_SUPPORTED, WRT_E_NULL, WRT_OK, wrt_error};

/// The version of the C ABI this header describes. A program checks
/// `wrt_abi_version() == WRT_ABI_VERSION` at start-up and refuses to run
/// with an archive built from another header. Any change to a declaration
/// of the header (a signature, a struct layout, a code's meaning) changes
/// it.
pub const WRT_ABI_VERSION: u32 = 3;

/// The `WRT_ABI_VERSION` the archive was built with.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_abi_version() -> u32 {
    WRT_ABI_VERSION
}

/// `wrt_platform_info_t.os`: Linux.
pub const WRT_OS_LINUX: u32 = 1;
/// `wrt_platform_info_t.os`: macOS.
pub const WRT_OS_MACOS: u32 = 2;
/// `wrt_platform_info_t.os`: QNX Neutrino 7.x.
pub const WRT_OS_QNX: u32 = 3;
/// `wrt_platform_info_t.os`: Zephyr.
pub const WRT_OS_ZEPHYR: u32 = 4;
/// `wrt_platform_info_t.os`: bare metal (no operating system).
pub const WRT_OS_BAREMETAL: u32 = 5;

/// `wrt_platform_info_t.isa`: x86_64.
pub const WRT_ISA_X86_64: u32 = 1;
/// `wrt_platform_info_t.isa`: aarch64.
pub const WRT_ISA_AARCH64: u32 = 2;

/// `wrt_platform_info_t.features`: memory tagging (aarch64 MTE), so
/// `WRT_MEMORY_MTE` memories can be created.
pub const WRT_FEATURE_MTE: u64 = 1 << 0;
/// `wrt_platform_info_t.features`: branch-target identification (BTI).
pub const WRT_FEATURE_BTI: u64 = 1 << 1;
/// `wrt_platform_info_t.features`: pointer authentication (PAC).
pub const WRT_FEATURE_PAC: u64 = 1 << 2;
/// `wrt_platform_info_t.features`: the futex2 system calls (Linux 6.7+).
pub const WRT_FEATURE_FUTEX2: u64 = 1 << 3;
/// `wrt_platform_info_t.features`: transparent huge pages are on (always or
/// on request), so `WRT_MEMORY_HUGE_PAGES` has an effect.
pub const WRT_FEATURE_HUGE_PAGES: u64 = 1 << 4;
/// `wrt_platform_info_t.features`: page protection works, so guard regions
/// fault and memories without `WRT_MEMORY_EXPLICIT_BOUNDS` are safe for
/// code that elides bounds checks.
pub const WRT_FEATURE_GUARD_PAGES: u64 = 1 << 5;
/// `wrt_platform_info_t.features`: the hardware flags above (MTE, BTI, PAC)
/// are known. Without it they read as absent because nothing told (Linux
/// without an auxiliary vector: no `PR_GET_AUXV`, no `/proc`).
pub const WRT_FEATURE_HWCAPS_KNOWN: u64 = 1 << 6;

/// What `wrt_platform_info` reports.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct wrt_platform_info_t {
    /// `WRT_OS_*`.
    pub os: u32,
    /// `WRT_ISA_*`.
    pub isa: u32,
    /// The operating system's page size in bytes (a Wasm page is 65536).
    pub page_size: u64,
    /// A set of `WRT_FEATURE_*`.
    pub features: u64,
}

/// Fills `*out` with what this machine and archive offer, so an embedder
/// can decide at run time (tagged memories, guard pages, huge pages).
/// Returns `WRT_OK`, `WRT_E_NULL`, or `WRT_E_OS` when the operating system
/// would not say (then `*out` is untouched). Makes a few system calls;
/// thread-safe, not async-signal-safe.
///
/// # Safety
/// `out` must be NULL or valid for a write of one `wrt_platform_info_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn wrt_platform_info(out: *mut wrt_platform_info_t) -> i32 {
    if out.is_null() {
        return WRT_E_NULL as i32;
    }
    match detect() {
        Ok(info) => {
            // SAFETY: non-null and valid for a write (caller).
            unsafe { out.write(info) };
            WRT_OK as i32
        }
        Err(code) => code as i32,
    }
}

const ISA: u32 = if cfg!(target_arch = "x86_64") {
    WRT_ISA_X86_64
} else {
    WRT_ISA_AARCH64
};

#[cfg(wrt_os = "linux")]
fn detect() -> Result<wrt_platform_info_t, wrt_error> {
    use crate::os::linux::probe::{AuxvSource, Capabilities, Thp};
    let caps = Capabilities::detect().map_err(|_| super::WRT_E_OS)?;
    let flag = |on: bool, bit: u64| if on { bit } else { 0 };
    let thp = matches!(caps.thp, Thp::Always | Thp::Madvise);
    Ok(wrt_platform_info_t {
        os: WRT_OS_LINUX,
        isa: ISA,
        page_size: caps.auxv.page_size as u64,
        features: flag(caps.mte, WRT_FEATURE_MTE)
            | flag(caps.bti, WRT_FEATURE_BTI)
            | flag(caps.pac, WRT_FEATURE_PAC)
            | flag(caps.futex2, WRT_FEATURE_FUTEX2)
            | flag(thp, WRT_FEATURE_HUGE_PAGES)
            | WRT_FEATURE_GUARD_PAGES
            | flag(
                caps.auxv.source != AuxvSource::Probed,
                WRT_FEATURE_HWCAPS_KNOWN,
            ),
    })
}

/// `wrt_mte_enable_thread` mode: tag-check faults are reported at the
/// faulting access, with its address.
pub const WRT_MTE_SYNC: u32 = 1;
/// `wrt_mte_enable_thread` mode: tag-check faults are reported later (at
/// the next kernel entry), without the address; cheaper.
pub const WRT_MTE_ASYNC: u32 = 2;

/// Turns on tagged addresses and tag checks for the calling thread, with
/// `mode` `WRT_MTE_SYNC` or `WRT_MTE_ASYNC` and `include_tags` the set of
/// tags new memories may get (bit n = tag n; `0xfffe` for all but 0). A
/// thread must call it before it creates a `WRT_MEMORY_MTE` memory, and
/// every thread that should fault on a stray tagged access calls it too
/// (threads created afterwards inherit it on Linux). Returns `WRT_OK`,
/// `WRT_E_INVALID` (an unknown mode, or `include_tags` holding no tag
/// other than 0), `WRT_E_NOT_SUPPORTED` (no MTE), or `WRT_E_OS`.
/// Thread-safe; acts on the calling thread only.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_mte_enable_thread(mode: u32, include_tags: u16) -> i32 {
    let result = mte_enable(mode, include_tags);
    match result {
        Ok(()) => WRT_OK as i32,
        Err(code) => code as i32,
    }
}

/// Whether tagged memories can be made here (Linux aarch64 with MTE).
pub(super) fn mte_available() -> bool {
    #[cfg(all(wrt_os = "linux", target_arch = "aarch64"))]
    return crate::os::linux::mte::available();
    #[cfg(not(all(wrt_os = "linux", target_arch = "aarch64")))]
    false
}

#[cfg(all(wrt_os = "linux", target_arch = "aarch64"))]
fn mte_enable(mode: u32, include_tags: u16) -> Result<(), wrt_error> {
    use crate::errno::Errno;
    use crate::os::linux::mte::{self, TagCheck};
    let check = match mode {
        WRT_MTE_SYNC => TagCheck::Sync,
        WRT_MTE_ASYNC => TagCheck::Async,
        _ => return Err(WRT_E_INVALID),
    };
    mte::enable(check, include_tags).map_err(|e| match e {
        Errno::INVAL => WRT_E_INVALID,
        Errno::NOTSUP => WRT_E_NOT_SUPPORTED,
        _ => super::WRT_E_OS,
    })
}

#[cfg(not(all(wrt_os = "linux", target_arch = "aarch64")))]
fn mte_enable(mode: u32, _include_tags: u16) -> Result<(), wrt_error> {
    if mode != WRT_MTE_SYNC && mode != WRT_MTE_ASYNC {
        return Err(WRT_E_INVALID);
    }
    Err(WRT_E_NOT_SUPPORTED)
}

/// Outside Linux the platform layer has no run-time probe of hardware
/// features yet: the OS and ISA are known at build time, the page size is
/// the allocator's (0 on bare metal and Zephyr before their region or heap
/// is installed), guard pages are claimed where the backend protects
/// pages (macOS, QNX), and no hardware feature is claimed unchecked.
#[cfg(not(wrt_os = "linux"))]
fn detect() -> Result<wrt_platform_info_t, wrt_error> {
    let os = if cfg!(wrt_os = "macos") {
        WRT_OS_MACOS
    } else if cfg!(wrt_os = "qnx") {
        WRT_OS_QNX
    } else if cfg!(wrt_os = "zephyr") {
        WRT_OS_ZEPHYR
    } else {
        WRT_OS_BAREMETAL
    };
    let (page_size, protects) = super::platform::page_facts();
    Ok(wrt_platform_info_t {
        os,
        isa: ISA,
        page_size,
        features: if protects { WRT_FEATURE_GUARD_PAGES } else { 0 },
    })
}
