//! QNX memory mappings as memory-manager messages, and the [`QnxPages`]
//! page allocator built on them.
//!
//! On QNX `mmap`, `mprotect`, `munmap` and `posix_madvise` are not kernel
//! calls: libc builds a `_MEM_MAP` or `_MEM_CTRL` message and sends it with
//! `MsgSendnc` to the memory manager's side-channel connection
//! `MEMMGR_COID` (QNX 6.4 libc `lib/c/1b/mmap.c`, `munmap.c`, `mprotect.c`,
//! `posix_madvise.c` in vocho/openqnx). This module sends the same messages.
//!
//! | trait operation | message |
//! |---|---|
//! | reserve | `_MEM_MAP`: addr 0, `PROT_NONE`, `MAP_PRIVATE \| MAP_ANON \| MAP_LAZY`, fd `NOFD` |
//! | commit / protect | `_MEM_CTRL` / `_MEM_CTRL_PROTECT` over the whole range |
//! | decommit | `_MEM_CTRL` / `_MEM_CTRL_ADVISE` with `POSIX_MADV_DISCARD_NP` |
//! | release | `_MEM_CTRL` / `_MEM_CTRL_UNMAP` of the whole range, guards included |
//!
//! # Why `MAP_LAZY`
//! Without it the memory manager allocates physical memory for an anonymous
//! private mapping when it is created (6.4 `vmm_mmap.c`: `memobj_pmem_add`
//! unless `MAP_LAZY`); "for MAP_LAZY mappings, memory isn't allocated or
//! mapped until the memory is first referenced" (QNX 7.0 System
//! Architecture, "Locking memory"). A 4 GiB + guard reservation must cost
//! address space only. Note that the QNX 8.0 `mprotect()` page says a
//! `PROT_NONE` `MAP_ANON` mapping made readable/writable gets its RAM
//! allocated at the `mprotect` call; whether `MAP_LAZY` defers that on 7.1 is
//! **unverified**, so `commit` may allocate the committed range at once.
//! Only committed ranges can cost memory either way.
//!
//! # What decommit relies on (reads as zero)
//! `POSIX_MADV_DISCARD_NP` (QNX 7.0 and later): "discard the backing store
//! for lazy private mappings (similar to madvise(MADV_DONTNEED) in Linux)"
//! (QNX 7.1 C Library Reference, `posix_madvise()`). Reservations here are
//! exactly that: lazy, private, anonymous. The next touch of a discarded
//! page gets new backing store, and new anonymous memory is zero-filled:
//! "POSIX requires that mmap() zero any memory that it allocates" (QNX 6.6
//! System Architecture, "Initializing allocated memory"), and QNX 7 removed
//! the only way to skip that (`MAP_NOINIT`, `UNMAP_INIT_OPTIONAL`, `procnto
//! -m~i`; QNX 7.0 migration guide, "Kernel and process manager"; 7.1
//! `sys/mman.h`: "MAP_NOINIT ... This flag has no effect"). Advice does not
//! touch the protection, so the range keeps it. **Unverified:** none of
//! this has run; the zero-fill after `DISCARD_NP` is read from the
//! documentation, not observed.
//!
//! # Page size
//! Read at run time without libc (QNX 7.1 aarch64 makes `__PAGESIZE` the
//! run-time variable `__page_size`): map one byte (`PROT_NONE`, lazy), and
//! take `real_size` from the `_MEM_MAP` reply, which the memory manager
//! rounds up to whole pages (6.4 `memmgr_map.c` / `vmm_mmap.c`:
//! `ROUNDUP(len + pg_offset, __PAGESIZE)`), then unmap it. The answer is
//! checked (a power of two, at least 4096, `real_addr` aligned to it and
//! equal to `addr`) and cached; a reply that fails the check is
//! [`Errno::IO`]. That 7.1 fills `real_size` the same way is an
//! **assumption** checked only by those tests at run time.
//!
//! # Message layout: 7.0 vs 7.1
//! `struct _mem_map` grew in 7.1 from 56 to 72 bytes (`shmem_handle` and
//! `elf_pvaddr` appended; SDP 7.1 `sys/memmsg.h` Rev 905299 vs 7.0.4 Rev
//! 780356). The layout sent is chosen by the target: `target_env = "nto70"`
//! (`aarch64-unknown-nto-qnx700`) sends [`MemMap70`], `"nto71"` and
//! `"nto71_iosock"` send [`MemMap71`]; other QNX versions do not build
//! (`os/qnx/mod.rs`). Both headers wrap the structures in `_pack64.h`
//! (natural alignment); the reply and `_mem_ctrl` are the same in both.
//!
//! Half-way failures: QNX documents that a failed `mprotect()` "may have
//! changed the protections on some of the pages"; `protect` and `commit`
//! inherit that.

use core::mem::{offset_of, size_of};

use crate::errno::{Errno, Result};
use crate::page::{Access, Protection};

// Addresses travel in u64 message fields; the backend is 64-bit only.
const _: () = assert!(size_of::<usize>() == 8);

/// `MEMMGR_COID` = `SYSMGR_COID` = `_NTO_SIDE_CHANNEL` (`sys/memmsg.h`,
/// `sys/neutrino.h`).
pub const MEMMGR_COID: i32 = 0x4000_0000;
/// `_MEM_MAP` = `_MEMMGR_BASE` (`sys/sysmsg.h`, `sys/memmsg.h`).
pub const MEM_MAP: u16 = 0x40;
/// `_MEM_CTRL`, the next value of the same enum.
pub const MEM_CTRL: u16 = 0x41;
/// `_MEM_CTRL_UNMAP` (`sys/memmsg.h`).
pub const MEM_CTRL_UNMAP: u16 = 0;
/// `_MEM_CTRL_PROTECT`.
pub const MEM_CTRL_PROTECT: u16 = 1;
/// `_MEM_CTRL_ADVISE`.
pub const MEM_CTRL_ADVISE: u16 = 7;

/// `MAP_PRIVATE` (`sys/mman.h`).
pub const MAP_PRIVATE: u32 = 0x0000_0002;
/// `MAP_LAZY`: allocate memory on first reference.
pub const MAP_LAZY: u32 = 0x0000_0080;
/// `MAP_ANON`.
pub const MAP_ANON: u32 = 0x0008_0000;
/// `PROT_NONE`.
pub const PROT_NONE: u32 = 0;
/// `PROT_READ` (not Linux's 1).
pub const PROT_READ: u32 = 0x0000_0100;
/// `PROT_WRITE` (not Linux's 2).
pub const PROT_WRITE: u32 = 0x0000_0200;
/// `PROT_EXEC` (not Linux's 4).
pub const PROT_EXEC: u32 = 0x0000_0400;
/// `NOFD`: no file descriptor (anonymous memory).
pub const NOFD: i32 = -1;
/// `POSIX_MADV_DISCARD_NP` (QNX extension, 7.0 and later).
pub const POSIX_MADV_DISCARD_NP: u32 = 5;

/// The flags of every reservation.
pub const RESERVE_FLAGS: u32 = MAP_PRIVATE | MAP_ANON | MAP_LAZY;

/// `struct _mem_map` of SDP 7.0 (56 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MemMap70 {
    /// `type`: [`MEM_MAP`].
    pub r#type: u16,
    /// `zero`.
    pub zero: u16,
    /// `reserved1`.
    pub reserved1: u32,
    /// `addr`: address hint (0: the memory manager picks).
    pub addr: u64,
    /// `len`: bytes to map.
    pub len: u64,
    /// `prot`: `PROT_*`.
    pub prot: u32,
    /// `flags`: `MAP_*`.
    pub flags: u32,
    /// `fd`: [`NOFD`] for anonymous memory.
    pub fd: i32,
    /// `preload`: bytes to fault in at once.
    pub preload: u32,
    /// `align`.
    pub align: u64,
    /// `offset` (`off64_t`).
    pub offset: i64,
}

/// `struct _mem_map` of SDP 7.1 (72 bytes): the 7.0 layout plus two fields.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MemMap71 {
    /// The fields shared with 7.0, at the same offsets.
    pub base: MemMap70,
    /// `shmem_handle` (new in 7.1).
    pub shmem_handle: u64,
    /// `elf_pvaddr` (new in 7.1).
    pub elf_pvaddr: u64,
}

/// `struct _mem_map_reply` (24 bytes, 7.0 and 7.1).
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct MemMapReply {
    /// `real_size`: bytes mapped, rounded up to whole pages.
    pub real_size: u64,
    /// `real_addr`: page-aligned start of the mapping.
    pub real_addr: u64,
    /// `addr`: the address `mmap` returns.
    pub addr: u64,
}

/// `struct _mem_ctrl` (24 bytes, 7.0 and 7.1).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MemCtrl {
    /// `type`: [`MEM_CTRL`].
    pub r#type: u16,
    /// `subtype`: `_MEM_CTRL_*`.
    pub subtype: u16,
    /// `flags`: the protection (PROTECT), advice (ADVISE) or 0 (UNMAP).
    pub flags: u32,
    /// `addr`.
    pub addr: u64,
    /// `len`.
    pub len: u64,
}

// Layouts pinned to the headers (offsets as in `sys/memmsg.h`, checked with
// gcc by the reference sheet); no padding anywhere.
const _: () = {
    assert!(size_of::<MemMap70>() == 56);
    assert!(offset_of!(MemMap70, r#type) == 0);
    assert!(offset_of!(MemMap70, zero) == 2);
    assert!(offset_of!(MemMap70, reserved1) == 4);
    assert!(offset_of!(MemMap70, addr) == 8);
    assert!(offset_of!(MemMap70, len) == 16);
    assert!(offset_of!(MemMap70, prot) == 24);
    assert!(offset_of!(MemMap70, flags) == 28);
    assert!(offset_of!(MemMap70, fd) == 32);
    assert!(offset_of!(MemMap70, preload) == 36);
    assert!(offset_of!(MemMap70, align) == 40);
    assert!(offset_of!(MemMap70, offset) == 48);

    assert!(size_of::<MemMap71>() == 72);
    assert!(offset_of!(MemMap71, base) == 0);
    assert!(offset_of!(MemMap71, shmem_handle) == 56);
    assert!(offset_of!(MemMap71, elf_pvaddr) == 64);

    assert!(size_of::<MemMapReply>() == 24);
    assert!(offset_of!(MemMapReply, real_size) == 0);
    assert!(offset_of!(MemMapReply, real_addr) == 8);
    assert!(offset_of!(MemMapReply, addr) == 16);

    assert!(size_of::<MemCtrl>() == 24);
    assert!(offset_of!(MemCtrl, r#type) == 0);
    assert!(offset_of!(MemCtrl, subtype) == 2);
    assert!(offset_of!(MemCtrl, flags) == 4);
    assert!(offset_of!(MemCtrl, addr) == 8);
    assert!(offset_of!(MemCtrl, len) == 16);
};

impl MemMap70 {
    /// A `_MEM_MAP` request for anonymous memory, filled as libc's `_mmap2`
    /// fills it (zero, reserved1, align, preload and offset all 0).
    pub const fn anon(addr: u64, len: u64, prot: u32, flags: u32) -> Self {
        Self {
            r#type: MEM_MAP,
            zero: 0,
            reserved1: 0,
            addr,
            len,
            prot,
            flags,
            fd: NOFD,
            preload: 0,
            align: 0,
            offset: 0,
        }
    }
}

impl MemMap71 {
    /// As [`MemMap70::anon`], with the 7.1 fields zero.
    pub const fn anon(addr: u64, len: u64, prot: u32, flags: u32) -> Self {
        Self {
            base: MemMap70::anon(addr, len, prot, flags),
            shmem_handle: 0,
            elf_pvaddr: 0,
        }
    }
}

impl MemCtrl {
    /// A `_MEM_CTRL` request.
    pub const fn new(subtype: u16, flags: u32, addr: u64, len: u64) -> Self {
        Self {
            r#type: MEM_CTRL,
            subtype,
            flags,
            addr,
            len,
        }
    }
}

/// The `_mem_map` this build sends: 56 bytes for QNX 7.0 targets.
#[cfg(target_env = "nto70")]
pub type MemMap = MemMap70;
/// The `_mem_map` this build sends: 72 bytes for QNX 7.1 targets (and in
/// host tests).
#[cfg(not(target_env = "nto70"))]
pub type MemMap = MemMap71;

#[cfg(target_env = "nto70")]
const _: () = assert!(size_of::<MemMap>() == 56);
#[cfg(any(target_env = "nto71", target_env = "nto71_iosock"))]
const _: () = assert!(size_of::<MemMap>() == 72);

/// The `PROT_*` bits for `prot`. QNX 7.1 `sys/mman.h` defines no BTI or MTE
/// protection bit, so asking for either is [`Errno::NOTSUP`].
pub fn prot_bits(prot: Protection) -> Result<u32> {
    if prot.bti || prot.mte {
        return Err(Errno::NOTSUP);
    }
    Ok(match prot.access {
        Access::None => PROT_NONE,
        Access::Read => PROT_READ,
        Access::ReadWrite => PROT_READ | PROT_WRITE,
        Access::ReadExec => PROT_READ | PROT_EXEC,
    })
}

/// The page size from the reply to a one-byte anonymous `_MEM_MAP`
/// (see the [module docs](self)), or `None` when the reply does not look
/// like one page at a page-aligned address.
pub fn page_size_from_probe(reply: &MemMapReply) -> Option<usize> {
    let page = usize::try_from(reply.real_size).ok()?;
    let sane = page.is_power_of_two()
        && page >= 4096
        && reply.real_addr != 0
        && reply.real_addr == reply.addr
        && reply.real_addr.is_multiple_of(reply.real_size);
    sane.then_some(page)
}

/// The start of a reservation of `total` bytes from its `_MEM_MAP` reply,
/// or [`Errno::IO`] when the reply is not a page-aligned mapping of at
/// least `total` bytes starting at the returned address.
pub fn reservation_start(reply: &MemMapReply, total: usize, page: usize) -> Result<usize> {
    let addr = usize::try_from(reply.addr).map_err(|_| Errno::IO)?;
    let size = usize::try_from(reply.real_size).map_err(|_| Errno::IO)?;
    if addr == 0 || !addr.is_multiple_of(page) || reply.real_addr != reply.addr || size < total {
        return Err(Errno::IO);
    }
    Ok(addr)
}

#[cfg(wrt_os = "qnx")]
pub use self::backend::*;

/// The message senders and the allocator; they trap, so they exist only
/// when built for QNX.
#[cfg(wrt_os = "qnx")]
mod backend {
    use core::ptr::{self, NonNull};
    use core::sync::atomic::{AtomicUsize, Ordering};

    use super::{
        MEM_CTRL_ADVISE, MEM_CTRL_PROTECT, MEM_CTRL_UNMAP, MEMMGR_COID, MemCtrl, MemMap,
        MemMapReply, POSIX_MADV_DISCARD_NP, PROT_NONE, RESERVE_FLAGS, page_size_from_probe,
        prot_bits, reservation_start,
    };
    use crate::errno::{Errno, Result};
    use crate::os::qnx::kercall::msg_sendnc;
    use crate::page::{PageAllocator, Protection, Reservation, ReserveOptions};

    /// Sends a `_MEM_MAP` request (`size_of::<MemMap>()` bytes: 56 on 7.0,
    /// 72 on 7.1); returns the reply. Not inlined, so `scripts/check-qnx`
    /// can read the length it passes in the object code.
    ///
    /// # Safety
    /// With `MAP_FIXED` the request replaces any mapping in its range: no
    /// live Rust reference may point there.
    #[inline(never)]
    pub unsafe fn mem_map(msg: &MemMap) -> Result<MemMapReply> {
        let mut reply = MemMapReply::default();
        // SAFETY: the kernel reads `size_of::<MemMap>()` bytes of `msg` and
        // writes at most 24 bytes into `reply`; the caller vouches for the
        // mapping's effect on existing memory.
        unsafe {
            msg_sendnc(
                MEMMGR_COID,
                ptr::from_ref(msg).cast(),
                size_of::<MemMap>(),
                (&raw mut reply).cast(),
                size_of::<MemMapReply>(),
            )?;
        }
        Ok(reply)
    }

    /// Sends a `_MEM_CTRL` request (24 bytes, no reply data). Not inlined,
    /// like [`mem_map`].
    ///
    /// # Safety
    /// Unmapping, protecting or discarding memory invalidates what points
    /// into it: no live Rust reference may point into a range made less
    /// accessible than the reference needs, unmapped, or discarded.
    #[inline(never)]
    pub unsafe fn mem_ctrl(msg: &MemCtrl) -> Result<()> {
        // SAFETY: the kernel reads the 24-byte `msg`; no reply buffer. The
        // caller vouches for the effect on the range.
        unsafe {
            msg_sendnc(
                MEMMGR_COID,
                ptr::from_ref(msg).cast(),
                size_of::<MemCtrl>(),
                ptr::null_mut(),
                0,
            )
        }
        .map(drop)
    }

    /// The page size, probed once per process (see the module docs).
    static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);

    fn page_size() -> Result<usize> {
        let cached = PAGE_SIZE.load(Ordering::Relaxed);
        if cached != 0 {
            return Ok(cached);
        }
        let probe = MemMap::anon(0, 1, PROT_NONE, RESERVE_FLAGS);
        // SAFETY: no MAP_FIXED: the memory manager picks an unused range.
        let reply = unsafe { mem_map(&probe)? };
        let page = page_size_from_probe(&reply);
        let unmap = MemCtrl::new(MEM_CTRL_UNMAP, 0, reply.real_addr, reply.real_size);
        // SAFETY: the probe mapping was made just above and nothing uses it.
        let unmapped = unsafe { mem_ctrl(&unmap) };
        let page = page.ok_or(Errno::IO)?;
        unmapped?;
        // Every thread that races here stores the same value.
        PAGE_SIZE.store(page, Ordering::Relaxed);
        Ok(page)
    }

    /// The QNX [`PageAllocator`] (see the [module docs](super)).
    #[derive(Copy, Clone, Debug)]
    pub struct QnxPages {
        page_size: usize,
    }

    impl QnxPages {
        /// Reads the page size (probed once per process with a one-byte
        /// lazy mapping; see the module docs).
        pub fn new() -> Result<Self> {
            Ok(Self {
                page_size: page_size()?,
            })
        }
    }

    impl PageAllocator for QnxPages {
        fn page_size(&self) -> usize {
            self.page_size
        }

        fn reserve(&self, opts: &ReserveOptions) -> Result<Reservation> {
            let (before, len, _after, total) = opts.rounded(self.page_size)?;
            let msg = MemMap::anon(0, total as u64, PROT_NONE, RESERVE_FLAGS);
            // SAFETY: no MAP_FIXED: the memory manager picks an unused range.
            let reply = unsafe { mem_map(&msg)? };
            let addr = match reservation_start(&reply, total, self.page_size) {
                Ok(addr) => addr,
                Err(e) => {
                    let unmap = MemCtrl::new(MEM_CTRL_UNMAP, 0, reply.real_addr, reply.real_size);
                    // SAFETY: whatever the reply describes was mapped just
                    // now and nothing uses it. Best effort: the reply is
                    // already known to be wrong, so its error is reported.
                    let _ = unsafe { mem_ctrl(&unmap) };
                    return Err(e);
                }
            };
            let start = NonNull::new(ptr::with_exposed_provenance_mut(addr)).ok_or(Errno::FAULT)?;
            // SAFETY: the memory manager mapped `total` page-aligned bytes
            // at `start` (checked by `reservation_start`).
            Ok(unsafe { Reservation::from_raw_parts(start, before, len, total) })
        }

        unsafe fn commit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
            // SAFETY: forwarded; the caller keeps `protect`'s contract.
            unsafe { self.protect(r, offset, len, Protection::READ_WRITE) }
        }

        unsafe fn protect(
            &self,
            r: &Reservation,
            offset: usize,
            len: usize,
            prot: Protection,
        ) -> Result<()> {
            let addr = r.subrange(offset, len, self.page_size)?;
            let bits = prot_bits(prot)?;
            if len == 0 {
                return Ok(());
            }
            let msg = MemCtrl::new(MEM_CTRL_PROTECT, bits, addr.addr().get() as u64, len as u64);
            // SAFETY: the range lies in `r` (checked); the caller vouches
            // for references into it.
            unsafe { mem_ctrl(&msg) }
        }

        unsafe fn decommit(&self, r: &Reservation, offset: usize, len: usize) -> Result<()> {
            let addr = r.subrange(offset, len, self.page_size)?;
            if len == 0 {
                return Ok(());
            }
            let msg = MemCtrl::new(
                MEM_CTRL_ADVISE,
                POSIX_MADV_DISCARD_NP,
                addr.addr().get() as u64,
                len as u64,
            );
            // SAFETY: the range lies in `r` (checked); the caller guarantees
            // no reference into it.
            unsafe { mem_ctrl(&msg) }
        }

        unsafe fn release(&self, r: Reservation) -> Result<()> {
            let msg = MemCtrl::new(
                MEM_CTRL_UNMAP,
                0,
                r.mapping_start().addr().get() as u64,
                r.mapping_len() as u64,
            );
            // SAFETY: the caller guarantees nothing uses the reservation.
            unsafe { mem_ctrl(&msg) }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;

    /// The bytes of a plain-integer `repr(C)` message.
    fn bytes_of<T: Copy>(msg: &T) -> Vec<u8> {
        let len = size_of::<T>();
        let p = core::ptr::from_ref(msg).cast::<u8>();
        // SAFETY: the message types have no padding (sizes asserted equal to
        // the sum of their fields), so all `len` bytes are initialised.
        unsafe { core::slice::from_raw_parts(p, len) }.to_vec()
    }

    /// A little-endian buffer written field by field at header offsets,
    /// independent of the Rust struct definitions.
    struct Expected(Vec<u8>);

    impl Expected {
        fn new(len: usize) -> Self {
            Self(std::vec![0; len])
        }
        fn put(&mut self, offset: usize, bytes: &[u8]) -> &mut Self {
            self.0[offset..offset + bytes.len()].copy_from_slice(bytes);
            self
        }
    }

    #[test]
    fn constants_match_the_headers() {
        assert_eq!(MEMMGR_COID, 0x4000_0000);
        assert_eq!((MEM_MAP, MEM_CTRL), (0x40, 0x41));
        assert_eq!(
            (MEM_CTRL_UNMAP, MEM_CTRL_PROTECT, MEM_CTRL_ADVISE),
            (0, 1, 7)
        );
        assert_eq!((MAP_PRIVATE, MAP_LAZY, MAP_ANON), (0x2, 0x80, 0x8_0000));
        assert_eq!(RESERVE_FLAGS, 0x8_0082);
        // Reserved mmap bits (MAP_RESERVMASK) are EINVAL; stay clear of them.
        assert_eq!(RESERVE_FLAGS & 0xfff0_0000, 0);
        assert_eq!(
            (PROT_NONE, PROT_READ, PROT_WRITE, PROT_EXEC),
            (0, 0x100, 0x200, 0x400)
        );
        assert_eq!(NOFD, -1);
        assert_eq!(POSIX_MADV_DISCARD_NP, 5);
    }

    #[test]
    fn mem_map_71_bytes_match_the_header() {
        let msg = MemMap71::anon(0, 0x1_0000_2000, PROT_NONE, RESERVE_FLAGS);
        let mut want = Expected::new(72);
        want.put(0, &0x40u16.to_le_bytes()) // type
            .put(2, &0u16.to_le_bytes()) // zero
            .put(4, &0u32.to_le_bytes()) // reserved1
            .put(8, &0u64.to_le_bytes()) // addr
            .put(16, &0x1_0000_2000u64.to_le_bytes()) // len
            .put(24, &0u32.to_le_bytes()) // prot
            .put(28, &0x8_0082u32.to_le_bytes()) // flags
            .put(32, &(-1i32).to_le_bytes()) // fd = NOFD
            .put(36, &0u32.to_le_bytes()) // preload
            .put(40, &0u64.to_le_bytes()) // align
            .put(48, &0i64.to_le_bytes()) // offset
            .put(56, &0u64.to_le_bytes()) // shmem_handle
            .put(64, &0u64.to_le_bytes()); // elf_pvaddr
        assert_eq!(bytes_of(&msg), want.0);
    }

    #[test]
    fn mem_map_70_is_the_71_prefix() {
        let m70 = MemMap70::anon(0x7000_0000, 1, PROT_READ, RESERVE_FLAGS);
        let m71 = MemMap71::anon(0x7000_0000, 1, PROT_READ, RESERVE_FLAGS);
        let (b70, b71) = (bytes_of(&m70), bytes_of(&m71));
        assert_eq!(b70.len(), 56);
        assert_eq!(b70[..], b71[..56]);
        let mut want = Expected::new(56);
        want.put(0, &0x40u16.to_le_bytes())
            .put(8, &0x7000_0000u64.to_le_bytes())
            .put(16, &1u64.to_le_bytes())
            .put(24, &0x100u32.to_le_bytes())
            .put(28, &0x8_0082u32.to_le_bytes())
            .put(32, &(-1i32).to_le_bytes());
        assert_eq!(b70, want.0);
    }

    #[test]
    fn host_tests_see_the_71_message() {
        // Host tests are not nto70, so they get the 7.1 alias; the QNX
        // builds pin their own size with a const assertion.
        assert_eq!(size_of::<MemMap>(), 72);
    }

    #[test]
    fn mem_ctrl_bytes_match_the_header() {
        let cases = [
            (MEM_CTRL_PROTECT, PROT_READ | PROT_WRITE),
            (MEM_CTRL_ADVISE, POSIX_MADV_DISCARD_NP),
            (MEM_CTRL_UNMAP, 0),
        ];
        for (subtype, flags) in cases {
            let msg = MemCtrl::new(subtype, flags, 0x0000_7f00_1234_0000, 0x3000);
            let mut want = Expected::new(24);
            want.put(0, &0x41u16.to_le_bytes())
                .put(2, &subtype.to_le_bytes())
                .put(4, &flags.to_le_bytes())
                .put(8, &0x0000_7f00_1234_0000u64.to_le_bytes())
                .put(16, &0x3000u64.to_le_bytes());
            assert_eq!(bytes_of(&msg), want.0);
        }
        let protect = MemCtrl::new(MEM_CTRL_PROTECT, PROT_READ | PROT_WRITE, 0, 0);
        assert_eq!(&bytes_of(&protect)[..8], &[0x41, 0, 1, 0, 0, 3, 0, 0]);
    }

    #[test]
    fn reply_layout() {
        let mut raw = [0u8; 24];
        raw[0..8].copy_from_slice(&0x4000u64.to_le_bytes());
        raw[8..16].copy_from_slice(&0x1000_0000u64.to_le_bytes());
        raw[16..24].copy_from_slice(&0x1000_0000u64.to_le_bytes());
        let mut reply = MemMapReply::default();
        // SAFETY: MemMapReply is three u64s, every bit pattern is valid.
        unsafe {
            core::ptr::copy_nonoverlapping(raw.as_ptr(), (&raw mut reply).cast::<u8>(), 24);
        }
        assert_eq!(
            reply,
            MemMapReply {
                real_size: 0x4000,
                real_addr: 0x1000_0000,
                addr: 0x1000_0000
            }
        );
    }

    #[test]
    fn protection_bits() {
        assert_eq!(prot_bits(Protection::NONE), Ok(0));
        assert_eq!(prot_bits(Protection::READ), Ok(0x100));
        assert_eq!(prot_bits(Protection::READ_WRITE), Ok(0x300));
        assert_eq!(prot_bits(Protection::READ_EXEC), Ok(0x500));
        for p in [
            Protection::NONE,
            Protection::READ,
            Protection::READ_WRITE,
            Protection::READ_EXEC,
        ] {
            let bits = prot_bits(p).unwrap();
            assert!(bits & (PROT_WRITE | PROT_EXEC) != (PROT_WRITE | PROT_EXEC));
            assert_eq!(prot_bits(p.with_bti()), Err(Errno::NOTSUP));
            assert_eq!(prot_bits(p.with_mte()), Err(Errno::NOTSUP));
        }
    }

    #[test]
    fn page_size_probe_checks_the_reply() {
        let r = |real_size, real_addr, addr| MemMapReply {
            real_size,
            real_addr,
            addr,
        };
        assert_eq!(
            page_size_from_probe(&r(4096, 0x10_0000, 0x10_0000)),
            Some(4096)
        );
        assert_eq!(
            page_size_from_probe(&r(0x4000, 0x10_0000, 0x10_0000)),
            Some(0x4000)
        );
        assert_eq!(
            page_size_from_probe(&r(0x1_0000, 0x10_0000, 0x10_0000)),
            Some(0x1_0000)
        );
        // Not a power of two, too small, misaligned, or inconsistent.
        assert_eq!(page_size_from_probe(&r(0x3000, 0x10_0000, 0x10_0000)), None);
        assert_eq!(page_size_from_probe(&r(1, 0x10_0000, 0x10_0000)), None);
        assert_eq!(page_size_from_probe(&r(0, 0x10_0000, 0x10_0000)), None);
        assert_eq!(page_size_from_probe(&r(0x4000, 0x10_1000, 0x10_1000)), None);
        assert_eq!(page_size_from_probe(&r(4096, 0x10_0000, 0x10_0010)), None);
        assert_eq!(page_size_from_probe(&r(4096, 0, 0)), None);
    }

    #[test]
    fn reservation_reply_checks() {
        let r = |real_size, real_addr, addr| MemMapReply {
            real_size,
            real_addr,
            addr,
        };
        let page = 4096;
        assert_eq!(
            reservation_start(&r(0x3000, 0x20_0000, 0x20_0000), 0x3000, page),
            Ok(0x20_0000)
        );
        assert_eq!(
            reservation_start(&r(0x2000, 0x20_0000, 0x20_0000), 0x3000, page),
            Err(Errno::IO)
        );
        assert_eq!(
            reservation_start(&r(0x3000, 0x20_0000, 0x20_0800), 0x3000, page),
            Err(Errno::IO)
        );
        assert_eq!(
            reservation_start(&r(0x3000, 0x20_0800, 0x20_0800), 0x3000, page),
            Err(Errno::IO)
        );
        assert_eq!(
            reservation_start(&r(0x3000, 0, 0), 0x3000, page),
            Err(Errno::IO)
        );
    }
}
