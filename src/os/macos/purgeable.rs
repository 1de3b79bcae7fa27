//! Purgeable memory: memory the kernel may discard under pressure while it
//! is marked volatile, with a report of whether it did.
//!
//! * Allocation: `mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
//!   MAP_ANON, VM_MAKE_TAG(tag) | VM_FLAGS_PURGABLE, 0)`: with `MAP_ANON`,
//!   mmap takes alias, superpage, purgeable and 4GB-chunk Mach flags in `fd`
//!   (XNU `bsd/kern/kern_mman.c`). With the builder's random address,
//!   `mach_vm_allocate(VM_FLAGS_ANYWHERE | VM_FLAGS_RANDOM_ADDR |
//!   VM_FLAGS_PURGABLE | tag)` instead, as mmap cannot pass that flag.
//! * State: `mach_vm_purgable_control(task, addr, VM_PURGABLE_SET_STATE,
//!   &state)` (Mach trap -11); `state` goes in as the new state and comes
//!   back as the old one. An old state of `VM_PURGABLE_EMPTY` on the way
//!   back to non-volatile means the contents were discarded ("the object
//!   was reclaimed while it was in a volatile state and its previous
//!   contents have been lost", XNU `osfmk/vm/vm_object.c`); the memory
//!   then reads as zero.
//!
//! The control needs one map entry covering the whole VM object, so the
//! region must not be split: never `mprotect` part of it (the kernel would
//! answer `KERN_INVALID_ARGUMENT`). Touching volatile memory is the
//! caller's risk: once purged, an access faults until the region is made
//! non-volatile again. The region is therefore handed out as a raw pointer,
//! never as a slice.

use super::consts::purgable;

/// A purgeable region's state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PurgeableState {
    /// Contents are kept (`VM_PURGABLE_NONVOLATILE`).
    NonVolatile,
    /// Contents may be discarded (`VM_PURGABLE_VOLATILE`).
    Volatile,
    /// Contents were discarded (`VM_PURGABLE_EMPTY`).
    Empty,
}

impl PurgeableState {
    /// The state value for `VM_PURGABLE_SET_STATE` (no volatile-group or
    /// behaviour bits: group 0, FIFO).
    pub const fn raw(self) -> i32 {
        match self {
            PurgeableState::NonVolatile => purgable::NONVOLATILE,
            PurgeableState::Volatile => purgable::VOLATILE,
            PurgeableState::Empty => purgable::EMPTY,
        }
    }

    /// Decodes the state field of a value the kernel returned (group and
    /// behaviour bits are ignored); `None` for `VM_PURGABLE_DENY` (3), which
    /// a region made purgeable never reports.
    pub const fn from_raw(raw: i32) -> Option<Self> {
        match raw & purgable::STATE_MASK {
            purgable::NONVOLATILE => Some(PurgeableState::NonVolatile),
            purgable::VOLATILE => Some(PurgeableState::Volatile),
            purgable::EMPTY => Some(PurgeableState::Empty),
            _ => None,
        }
    }
}

#[cfg(wrt_os = "macos")]
pub use imp::PurgeableRegion;

#[cfg(wrt_os = "macos")]
mod imp {
    use core::ptr::{self, NonNull};

    use super::super::builder::Config;
    use super::super::consts::{prot, purgable};
    use super::super::sys;
    use super::PurgeableState;
    use crate::errno::{Errno, Result};

    /// Purgeable, read-write anonymous memory (see the [module docs](super)).
    /// A plain descriptor: call [`release`](Self::release) to unmap it.
    #[derive(Debug)]
    pub struct PurgeableRegion {
        addr: NonNull<u8>,
        len: usize,
    }

    // SAFETY: a region is an address range; access goes through raw
    // pointers whose use is the caller's unsafe business.
    unsafe impl Send for PurgeableRegion {}
    // SAFETY: as above; the methods taking `&self` only make system calls.
    unsafe impl Sync for PurgeableRegion {}

    impl PurgeableRegion {
        /// Allocates `len` bytes (rounded up to pages; `EINVAL` for 0),
        /// non-volatile, reading as zero.
        pub(crate) fn allocate(cfg: &Config, len: usize) -> Result<Self> {
            if len == 0 {
                return Err(Errno::INVAL);
            }
            let len = len
                .checked_next_multiple_of(cfg.page_size)
                .filter(|&n| n <= isize::MAX as usize)
                .ok_or(Errno::OVERFLOW)?;
            let addr = if cfg.needs_mach_vm() {
                let mut addr = 0u64;
                let flags = cfg.mach_flags(true);
                sys::with_task(|task| {
                    // SAFETY: `addr` is a live u64; ANYWHERE replaces nothing.
                    unsafe { sys::mach_vm_allocate(task, &mut addr, len as u64, flags) }
                })?;
                NonNull::new(ptr::with_exposed_provenance_mut(addr as usize)).ok_or(Errno::FAULT)?
            } else {
                let rw = prot::READ | prot::WRITE;
                // SAFETY: no MAP_FIXED: the kernel picks an unused range.
                unsafe {
                    sys::mmap(
                        ptr::null_mut(),
                        len,
                        rw,
                        cfg.mmap_flags(false),
                        cfg.mmap_fd(true),
                        0,
                    )
                }?
            };
            Ok(Self { addr, len })
        }

        /// The first byte.
        pub fn as_ptr(&self) -> *mut u8 {
            self.addr.as_ptr()
        }

        /// Bytes in the region (a page multiple).
        pub fn len(&self) -> usize {
            self.len
        }

        /// Always false: a region has at least one page.
        pub fn is_empty(&self) -> bool {
            self.len == 0
        }

        fn control(&self, control: i32, state: i32) -> Result<PurgeableState> {
            let mut state = state;
            let addr = self.addr.as_ptr() as u64;
            sys::with_task(|task| {
                // SAFETY: `state` is a live i32; the region is ours.
                unsafe { sys::mach_vm_purgable_control(task, addr, control, &mut state) }
            })?;
            PurgeableState::from_raw(state).ok_or(Errno::IO)
        }

        /// The current state.
        pub fn state(&self) -> Result<PurgeableState> {
            self.control(purgable::GET_STATE, 0)
        }

        /// Lets the kernel discard the contents under memory pressure;
        /// returns the previous state.
        pub fn set_volatile(&self) -> Result<PurgeableState> {
            self.control(purgable::SET_STATE, PurgeableState::Volatile.raw())
        }

        /// Keeps the contents from now on; returns whether they were
        /// discarded while volatile (then the region reads as zero).
        pub fn set_nonvolatile(&self) -> Result<bool> {
            let old = self.control(purgable::SET_STATE, PurgeableState::NonVolatile.raw())?;
            Ok(old == PurgeableState::Empty)
        }

        /// Discards the contents now (the region becomes `Empty` and must be
        /// made non-volatile before it is touched again); returns the
        /// previous state.
        pub fn purge(&self) -> Result<PurgeableState> {
            self.control(purgable::SET_STATE, PurgeableState::Empty.raw())
        }

        /// Unmaps the region.
        ///
        /// # Safety
        /// Nothing may use its memory afterwards.
        pub unsafe fn release(self) -> Result<()> {
            // SAFETY: the caller guarantees the memory is unused; the range
            // is exactly what `allocate` mapped.
            unsafe { sys::munmap(self.addr.as_ptr(), self.len) }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_encoding() {
        for s in [
            PurgeableState::NonVolatile,
            PurgeableState::Volatile,
            PurgeableState::Empty,
        ] {
            assert_eq!(PurgeableState::from_raw(s.raw()), Some(s));
        }
        assert_eq!(PurgeableState::Volatile.raw(), 1);
        assert_eq!(PurgeableState::from_raw(3), None);
        // Group (bits 8..10) and behaviour (0x40) bits do not change the state.
        assert_eq!(
            PurgeableState::from_raw(0x700 | 0x40 | 1),
            Some(PurgeableState::Volatile)
        );
        assert_eq!(
            PurgeableState::from_raw(0x100 | 2),
            Some(PurgeableState::Empty)
        );
    }
}
