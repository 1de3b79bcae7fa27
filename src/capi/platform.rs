//! The platform under the C ABI, chosen in one place: the page allocator
//! behind every memory (`Pages` and how to make one), the futex the wait
//! queue parks on (`Futex`, `FUTEX`), and its monotonic clock (`Clock`,
//! `CLOCK`). One `cfg(wrt_os)` arm per backend; `src/os/mod.rs` stops the
//! build for anything else.
//!
//! | platform | `Pages` | futex | clock | page protection |
//! |---|---|---|---|---|
//! | Linux | `LinuxPages` | `LinuxFutex` | `clock_gettime(CLOCK_MONOTONIC)` | yes |
//! | macOS | `MacOsPages` | `MacOsFutex` (ulock) | `mach_absolute_time` scaled by `mach_timebase_info` | yes |
//! | QNX | `QnxPages` | `QnxFutex` (its kernel objects made on first use) | `ClockTime(CLOCK_MONOTONIC)` | yes |
//! | Zephyr | `BumpPages` over a region or `KHeapPages` over a `k_heap`, installed by the integrator | `ZephyrFutex` over the integrator's `wrt_zephyr_futexes` table, `Mode::Auto` | `k_uptime_ticks` (supervisor call or `svc #3`) | no |
//! | bare metal | `BumpPages` over a region installed by the integrator | `BareMetalFutex` | `CNTVCT_EL0` / `CNTFRQ_EL0` | through the integrator's hook (`wrt_baremetal_set_protect_hook`), for explicit-bounds memories; otherwise no |
//!
//! # Without page protection (Zephyr, bare metal)
//! Nothing faults there, so what needs an inaccessible page is refused
//! with `WRT_E_NOT_SUPPORTED` instead of done halfway: a memory without
//! `WRT_MEMORY_EXPLICIT_BOUNDS` (its guard region could not trap), and
//! `wrt_memory_reset` of a memory grown past its initial size (the pages
//! past it could not be made inaccessible; the reset changes nothing).
//! Everything else keeps its meaning: bounds are checked by every
//! `wrt_*` call and by the compiled code (explicit bounds), new and reset
//! pages read zero (they are zeroed with stores), grow never moves. A
//! destroyed memory's space is given back at once (the quarantine of
//! inaccessible address space needs page protection), and a bump region
//! reclaims only its most recent reservation.
//!
//! Before the integrator installs memory (`wrt_baremetal_set_region`,
//! `wrt_zephyr_set_region`, `wrt_zephyr_set_heap`), `wrt_memory_create`
//! returns `WRT_E_OUT_OF_MEMORY`: there is no memory to give.

#[cfg(any(wrt_os = "baremetal", wrt_os = "zephyr"))]
use core::ffi::c_void;

#[cfg(any(wrt_os = "baremetal", wrt_os = "zephyr"))]
use super::{WRT_E_INVALID, WRT_E_NULL, WRT_E_OUT_OF_MEMORY, WRT_OK};
use super::{WRT_E_NOT_SUPPORTED, wrt_error};
use crate::wasm::memory::{Bounds, MemoryConfig};

/// The allocator of a new memory with configuration `cfg`, or the code
/// that refuses it (see the [module docs](self)).
pub(super) fn pages(cfg: &MemoryConfig) -> Result<Pages, wrt_error> {
    if !PAGE_PROTECTION && matches!(cfg.bounds, Bounds::Guarded { .. }) {
        return Err(WRT_E_NOT_SUPPORTED);
    }
    new_pages()
}

/// The page size of the platform's allocator (0 while none is installed:
/// bare metal and Zephyr before their hook) and whether it protects
/// pages, for `wrt_platform_info` outside Linux.
#[cfg(not(wrt_os = "linux"))]
pub(super) fn page_facts() -> (u64, bool) {
    use crate::page::PageAllocator;
    let page_size = new_pages().map_or(0, |p| p.page_size() as u64);
    (page_size, PAGE_PROTECTION)
}

// ---------------------------------------------------------------- Linux
#[cfg(wrt_os = "linux")]
mod imp {
    use super::wrt_error;
    use crate::capi::WRT_E_OS;

    pub(in crate::capi) type Pages = crate::os::linux::LinuxPages;
    pub(in crate::capi) type Futex = crate::os::linux::LinuxFutex;
    pub(in crate::capi) const FUTEX: Futex = crate::os::linux::LinuxFutex {};
    pub(in crate::capi) type Clock = crate::wasm::atomics::OsClock;
    pub(in crate::capi) const CLOCK: Clock = crate::wasm::atomics::OsClock;
    pub(super) const PAGE_PROTECTION: bool = true;

    pub(super) fn new_pages() -> Result<Pages, wrt_error> {
        Pages::new().map_err(|_| WRT_E_OS)
    }
}

// ---------------------------------------------------------------- macOS
#[cfg(wrt_os = "macos")]
mod imp {
    use core::time::Duration;

    use super::wrt_error;
    use crate::capi::WRT_E_OS;
    use crate::os::macos::time;
    use crate::wasm::atomics::Clock as ClockTrait;

    pub(in crate::capi) type Pages = crate::os::macos::MacOsPages;
    pub(in crate::capi) type Futex = crate::os::macos::MacOsFutex;
    pub(in crate::capi) const FUTEX: Futex = crate::os::macos::MacOsFutex;
    pub(in crate::capi) type Clock = MachClock;
    pub(in crate::capi) const CLOCK: Clock = MachClock;
    pub(super) const PAGE_PROTECTION: bool = true;

    pub(super) fn new_pages() -> Result<Pages, wrt_error> {
        Pages::new().map_err(|_| WRT_E_OS)
    }

    /// `mach_absolute_time` (Mach trap -3) in nanoseconds, scaled by the
    /// timebase (`mach_timebase_info`, trap -89, read once and cached),
    /// rounded up (still monotonic).
    #[derive(Copy, Clone, Debug)]
    pub(in crate::capi) struct MachClock;

    impl ClockTrait for MachClock {
        fn now(&self) -> Option<Duration> {
            let tb = time::timebase().ok()?;
            Some(Duration::from_nanos(tb.ticks_to_ns_ceil(time::now())))
        }
    }
}

// ---------------------------------------------------------------- QNX
#[cfg(wrt_os = "qnx")]
mod imp {
    use core::sync::atomic::AtomicU32;
    use core::time::Duration;

    use super::wrt_error;
    use crate::capi::WRT_E_OS;
    use crate::errno;
    use crate::futex::{FutexLike, WaitOutcome};
    use crate::os::qnx::{QnxFutex, time};
    use crate::wasm::atomics::Clock as ClockTrait;

    pub(in crate::capi) type Pages = crate::os::qnx::QnxPages;
    pub(in crate::capi) type Futex = LazyQnxFutex;
    pub(in crate::capi) const FUTEX: Futex = LazyQnxFutex;
    pub(in crate::capi) type Clock = QnxClock;
    pub(in crate::capi) const CLOCK: Clock = QnxClock;
    pub(super) const PAGE_PROTECTION: bool = true;

    pub(super) fn new_pages() -> Result<Pages, wrt_error> {
        Pages::new().map_err(|_| WRT_E_OS)
    }

    /// `QnxFutex`, whose kernel objects (`SyncTypeCreate`) are made by the
    /// first wait or wake of the process rather than in a constant: after
    /// that, `QnxFutex::new` is one atomic load. If the kernel refuses to
    /// make them, every wait returns that error, which the wait queue takes
    /// as a spurious wake-up: waits then poll instead of sleeping (they
    /// still end on their notify or deadline).
    #[derive(Copy, Clone, Debug)]
    pub(in crate::capi) struct LazyQnxFutex;

    impl FutexLike for LazyQnxFutex {
        fn wait(
            &self,
            word: &AtomicU32,
            expected: u32,
            timeout: Option<Duration>,
        ) -> errno::Result<WaitOutcome> {
            QnxFutex::new()?.wait(word, expected, timeout)
        }

        fn wake(&self, word: &AtomicU32, n: u32) -> errno::Result<u32> {
            QnxFutex::new()?.wake(word, n)
        }

        fn wake_count_is_exact(&self) -> bool {
            false // QnxFutex's counts are upper bounds
        }
    }

    /// `ClockTime(CLOCK_MONOTONIC)` (kernel call 65).
    #[derive(Copy, Clone, Debug)]
    pub(in crate::capi) struct QnxClock;

    impl ClockTrait for QnxClock {
        fn now(&self) -> Option<Duration> {
            time::monotonic().ok()
        }
    }
}

// ------------------------------------------------- bare metal and Zephyr
/// The allocator the integrator installed (bare metal, Zephyr), set once.
#[cfg(any(wrt_os = "baremetal", wrt_os = "zephyr"))]
mod installed {
    use core::cell::UnsafeCell;
    use core::mem::MaybeUninit;
    use core::ptr::NonNull;
    use core::sync::atomic::{AtomicU8, Ordering};

    use crate::errno::Result;
    use crate::os::current::BumpPages;
    use crate::page::{PageAllocator, Protection, Reservation, ReserveOptions};

    #[cfg(wrt_os = "zephyr")]
    use crate::os::zephyr::{KHeap, KHeapPages};

    /// What backs the memories.
    #[derive(Debug)]
    pub(super) enum Backing {
        /// A region, bump-allocated.
        Region(BumpPages),
        /// A Zephyr `k_heap`.
        #[cfg(wrt_os = "zephyr")]
        Heap(KHeapPages),
    }

    const UNSET: u8 = 0;
    const SETTING: u8 = 1;
    const SET: u8 = 2;

    struct Cell {
        state: AtomicU8,
        backing: UnsafeCell<MaybeUninit<Backing>>,
    }

    // SAFETY: `backing` is written once, by the thread that moved `state`
    // from UNSET to SETTING, and read only after `state` is SET (Release /
    // Acquire); `Backing`'s allocators are Sync.
    unsafe impl Sync for Cell {}

    static CELL: Cell = Cell {
        state: AtomicU8::new(UNSET),
        backing: UnsafeCell::new(MaybeUninit::uninit()),
    };

    /// Installs `make()` unless something is installed (or being
    /// installed) already: then `false`, and `make` is not called.
    pub(super) fn install(make: impl FnOnce() -> Backing) -> bool {
        if CELL
            .state
            .compare_exchange(UNSET, SETTING, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        // SAFETY: SETTING gives this thread the only access to `backing`.
        unsafe { (*CELL.backing.get()).write(make()) };
        CELL.state.store(SET, Ordering::Release);
        true
    }

    /// A bump allocator over `len` bytes at `start`.
    ///
    /// # Safety
    /// As for `BumpPages::new`: the region is readable and writable for
    /// the rest of the program and nothing else uses it.
    pub(super) unsafe fn region(start: NonNull<u8>, len: usize) -> Backing {
        // SAFETY: forwarded from the caller.
        Backing::Region(unsafe { BumpPages::new(start, len) })
    }

    /// A `k_heap` allocator.
    ///
    /// # Safety
    /// As for `KHeapPages::new`.
    #[cfg(wrt_os = "zephyr")]
    pub(super) unsafe fn heap(heap: NonNull<KHeap>) -> Backing {
        // SAFETY: forwarded from the caller.
        Backing::Heap(unsafe { KHeapPages::new(heap) })
    }

    #[cfg(wrt_os = "baremetal")]
    impl Installed {
        /// `BumpPages::set_protect_hook` of the installed region.
        ///
        /// # Safety
        /// As for `BumpPages::set_protect_hook`.
        pub(super) unsafe fn set_protect_hook(
            &self,
            hook: crate::os::baremetal::ProtectHook,
        ) -> Result<()> {
            let Backing::Region(a) = self.0;
            // SAFETY: forwarded from the caller.
            unsafe { a.set_protect_hook(hook) }
        }
    }

    /// The installed allocator, as a copyable handle.
    pub(super) fn get() -> Option<Installed> {
        if CELL.state.load(Ordering::Acquire) != SET {
            return None;
        }
        let cell = CELL.backing.get();
        // SAFETY: SET: written once and never again (see `Cell`), so a
        // shared reference to it is valid for the rest of the program.
        let backing = unsafe { &*cell };
        // SAFETY: SET means `install` wrote it before its Release store,
        // which the Acquire load above saw.
        Some(Installed(unsafe { backing.assume_init_ref() }))
    }

    /// The page allocator of every memory: a reference to the installed
    /// [`Backing`].
    #[derive(Copy, Clone, Debug)]
    pub(in crate::capi) struct Installed(&'static Backing);

    macro_rules! each {
        ($self:ident, $a:ident => $e:expr) => {
            match $self.0 {
                Backing::Region($a) => $e,
                #[cfg(wrt_os = "zephyr")]
                Backing::Heap($a) => $e,
            }
        };
    }

    impl PageAllocator for Installed {
        fn page_size(&self) -> usize {
            each!(self, a => a.page_size())
        }

        fn reserve(&self, opts: &ReserveOptions) -> Result<Reservation> {
            each!(self, a => a.reserve(opts))
        }

        unsafe fn commit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
            // SAFETY: the caller keeps the trait's contract, forwarded.
            each!(self, a => unsafe { a.commit(r, offset, len) })
        }

        unsafe fn protect(
            &self,
            r: &Reservation,
            offset: usize,
            len: usize,
            prot: Protection,
        ) -> Result<()> {
            // SAFETY: as above.
            each!(self, a => unsafe { a.protect(r, offset, len, prot) })
        }

        unsafe fn decommit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
            // SAFETY: as above.
            each!(self, a => unsafe { a.decommit(r, offset, len) })
        }

        unsafe fn release(&self, r: Reservation) -> Result<()> {
            // SAFETY: as above.
            each!(self, a => unsafe { a.release(r) })
        }
    }
}

/// Installs a region; the shared body of `wrt_baremetal_set_region` and
/// `wrt_zephyr_set_region`.
///
/// # Safety
/// As for those functions.
#[cfg(any(wrt_os = "baremetal", wrt_os = "zephyr"))]
unsafe fn set_region(start: *mut c_void, len: usize) -> i32 {
    let Some(start) = core::ptr::NonNull::new(start.cast::<u8>()) else {
        return WRT_E_NULL as i32;
    };
    if (start.as_ptr() as usize).checked_add(len).is_none() {
        return WRT_E_INVALID as i32;
    }
    // SAFETY: the caller hands the region over for good (function docs).
    let made = installed::install(|| unsafe { installed::region(start, len) });
    if made {
        WRT_OK as i32
    } else {
        WRT_E_INVALID as i32
    }
}

#[cfg(any(wrt_os = "baremetal", wrt_os = "zephyr"))]
fn new_pages() -> Result<Pages, wrt_error> {
    installed::get().ok_or(WRT_E_OUT_OF_MEMORY)
}

#[cfg(any(wrt_os = "baremetal", wrt_os = "zephyr"))]
const PAGE_PROTECTION: bool = false;

// ------------------------------------------------------------ bare metal
#[cfg(wrt_os = "baremetal")]
mod imp {
    pub(in crate::capi) type Pages = super::installed::Installed;
    pub(in crate::capi) type Futex = crate::os::baremetal::BareMetalFutex;
    pub(in crate::capi) const FUTEX: Futex = crate::os::baremetal::BareMetalFutex::new();
    pub(in crate::capi) type Clock = crate::wasm::atomics::OsClock;
    pub(in crate::capi) const CLOCK: Clock = crate::wasm::atomics::OsClock;
}

// ---------------------------------------------------------------- Zephyr
#[cfg(wrt_os = "zephyr")]
mod imp {
    use core::time::Duration;

    const _: () = assert!(
        WRT_ZEPHYR_FUTEXES == 2 * crate::os::zephyr::futex::MAX_SLOTS,
        "the integrator's table is two k_futex per slot of ZephyrFutex"
    );

    use super::hooks::WRT_ZEPHYR_FUTEXES;
    use crate::os::zephyr::{KFutex, Mode, ZephyrFutex, config, kernel};
    use crate::wasm::atomics::Clock as ClockTrait;

    unsafe extern "C" {
        /// `struct k_futex wrt_zephyr_futexes[WRT_ZEPHYR_FUTEXES];`, defined
        /// by the integrator in C (see `WRT_ZEPHYR_FUTEXES`).
        static wrt_zephyr_futexes: [KFutex; WRT_ZEPHYR_FUTEXES];
    }

    pub(in crate::capi) type Pages = super::installed::Installed;
    pub(in crate::capi) type Futex = ZephyrFutex;
    // Used once, as the initial value of the static queue (a `static`
    // cannot be moved into another static's initializer).
    #[allow(clippy::declare_interior_mutable_const)]
    pub(in crate::capi) const FUTEX: Futex =
        // SAFETY: only the address is taken; the integrator defines the
        // array (a link error otherwise), and k_futex objects are accessed
        // only atomically and by the kernel.
        ZephyrFutex::new(Mode::Auto, unsafe { &wrt_zephyr_futexes });
    pub(in crate::capi) type Clock = UptimeClock;
    pub(in crate::capi) const CLOCK: Clock = UptimeClock;

    /// `k_uptime_ticks()` scaled by `CONFIG_SYS_CLOCK_TICKS_PER_SEC`,
    /// through the calling thread's mode (supervisor call or `svc #3`).
    #[derive(Copy, Clone, Debug)]
    pub(in crate::capi) struct UptimeClock;

    impl ClockTrait for UptimeClock {
        fn now(&self) -> Option<Duration> {
            let ticks = u64::try_from(kernel::uptime_ticks(Mode::Auto).ok()?).ok()?;
            // Whole seconds, then the rest: exact in 64 bits for any tick
            // rate below 18 GHz (no 128-bit division).
            let per_sec = config::TICKS_PER_SEC;
            let nanos = ticks % per_sec * 1_000_000_000 / per_sec;
            Some(Duration::new(ticks / per_sec, nanos as u32))
        }
    }
}

/// The integrator hooks of the platforms that need them: C entry points
/// and constants (in `include/wrt_helper.h` on every platform; each
/// function is defined only by the archive of its platform).
pub mod hooks {
    #[cfg(any(wrt_os = "baremetal", wrt_os = "zephyr"))]
    use core::ffi::c_void;

    #[cfg(any(wrt_os = "baremetal", wrt_os = "zephyr"))]
    use super::set_region;
    #[cfg(wrt_os = "zephyr")]
    use super::{WRT_E_INVALID, WRT_E_NULL, WRT_OK, installed};

    /// Zephyr: the integrator defines, in C, the `k_futex` objects the
    /// atomics wait on: `struct k_futex wrt_zephyr_futexes[WRT_ZEPHYR_FUTEXES];`
    /// (C, so that the build registers them as kernel objects; Zephyr
    /// versions before the single-queue futex rewrite require it). Threads
    /// that call `wrt_atomic_*` need write access to them (user threads:
    /// in their memory domain). The Zephyr archive does not link without
    /// the symbol.
    pub const WRT_ZEPHYR_FUTEXES: usize = 64;

    /// Bare metal: hands `len` bytes at `start` to the helper; every memory is
    /// carved from them (a bump allocator: reservations are taken from the
    /// top of what is left; a destroyed memory's space comes back only if it
    /// was the most recent reservation). Call once, before the first
    /// `wrt_memory_create` (which returns `WRT_E_OUT_OF_MEMORY` until then).
    /// The region needs no alignment (whole 4 KiB pages inside it are used)
    /// and may hold anything (memories are zeroed as they are handed out).
    /// Returns `WRT_OK`; `WRT_E_NULL` for a NULL `start`; `WRT_E_INVALID`
    /// when a region is already installed (it stays in use) or `start + len`
    /// wraps around. Defined only by the bare-metal archive (built with the
    /// feature `platform-baremetal`).
    ///
    /// # Safety
    /// `start..start + len` is readable and writable Normal memory for the
    /// rest of the program, and nothing else reads or writes it.
    #[cfg(wrt_os = "baremetal")]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn wrt_baremetal_set_region(start: *mut c_void, len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        unsafe { set_region(start, len) }
    }

    /// Bare metal: gives the region of `wrt_baremetal_set_region` page
    /// protection through the integrator's translation tables. The helper
    /// calls `hook(start, len, accessible)` with 4 KiB-aligned ranges of the
    /// region: `accessible` 0 makes the pages invalid (any access takes a
    /// translation fault), 1 makes them valid read-write Normal memory, on
    /// every core (TLBs invalidated) before it returns 0; non-zero means it
    /// changed nothing. A new memory's reservation is made inaccessible
    /// (after it is zeroed) except the pages of its current size: a load or
    /// store past the size faults, and `wrt_baremetal_sync_exception` turns that
    /// fault into `WRT_TRAP_OUT_OF_BOUNDS` inside `wrt_call`. Grow makes
    /// pages accessible, `wrt_memory_reset` makes the pages past the
    /// initial size inaccessible again (and zeroes the initial pages in
    /// place), destroy makes the reservation accessible before it is
    /// reused. Called from any core, concurrently for disjoint ranges,
    /// never from an exception handler. Without a hook nothing faults
    /// (as before). A memory without `WRT_MEMORY_EXPLICIT_BOUNDS` is still
    /// refused: its 8 GiB reservation is carved from the region.
    ///
    /// Call once, after `wrt_baremetal_set_region` and before the memories
    /// that should be protected are created (memories created before keep
    /// their pages accessible until a grow, reset or destroy changes them).
    /// Returns `WRT_OK`; `WRT_E_NULL` for a NULL hook; `WRT_E_INVALID` when
    /// no region is installed or a hook is already set. Defined only by
    /// the bare-metal archive.
    ///
    /// # Safety
    /// `hook` does what is described above for the rest of the program.
    #[cfg(wrt_os = "baremetal")]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn wrt_baremetal_set_protect_hook(
        hook: Option<unsafe extern "C" fn(start: *mut c_void, len: usize, accessible: i32) -> i32>,
    ) -> i32 {
        let Some(hook) = hook else {
            return super::WRT_E_NULL as i32;
        };
        let Some(pages) = super::installed::get() else {
            return super::WRT_E_INVALID as i32;
        };
        // SAFETY: forwarded from the caller.
        match unsafe { pages.set_protect_hook(hook) } {
            Ok(()) => super::WRT_OK as i32,
            Err(_) => super::WRT_E_INVALID as i32,
        }
    }

    /// Zephyr: hands `len` bytes at `start` to the helper, bump-allocated as
    /// on bare metal (`wrt_baremetal_set_region`, same rules and codes). Use
    /// either this or `wrt_zephyr_set_heap`, once, before the first
    /// `wrt_memory_create`; a second call of either returns `WRT_E_INVALID`.
    /// Defined only by the Zephyr archive (feature `platform-zephyr`).
    ///
    /// # Safety
    /// As for `wrt_baremetal_set_region`; user threads that use the memories
    /// need the region in their memory domain.
    #[cfg(wrt_os = "zephyr")]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn wrt_zephyr_set_region(start: *mut c_void, len: usize) -> i32 {
        // SAFETY: forwarded from the caller.
        unsafe { set_region(start, len) }
    }

    /// Zephyr: every memory is allocated from `heap` (`K_HEAP_DEFINE`, or
    /// `k_heap_init` over a region) with `k_heap_aligned_alloc` (4 KiB
    /// aligned, `K_NO_WAIT`) and freed with `k_heap_free` on destroy.
    /// `k_heap` calls are not system calls, so `wrt_memory_create` and
    /// `wrt_memory_destroy` must then run in supervisor threads. Returns
    /// `WRT_OK`, `WRT_E_NULL`, or `WRT_E_INVALID` when memory is already
    /// installed (this or `wrt_zephyr_set_region`). Defined only by the
    /// Zephyr archive.
    ///
    /// # Safety
    /// `heap` is an initialised `struct k_heap` that stays valid for the rest
    /// of the program.
    #[cfg(wrt_os = "zephyr")]
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn wrt_zephyr_set_heap(heap: *mut c_void) -> i32 {
        let Some(heap) = core::ptr::NonNull::new(heap.cast()) else {
            return WRT_E_NULL as i32;
        };
        // SAFETY: the caller's guarantees are `KHeapPages::new`'s.
        if installed::install(|| unsafe { installed::heap(heap) }) {
            WRT_OK as i32
        } else {
            WRT_E_INVALID as i32
        }
    }
}

pub(super) use imp::*;
