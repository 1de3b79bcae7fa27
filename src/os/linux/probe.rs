//! What this machine offers: page size and hardware capabilities from the
//! auxiliary vector, futex2, transparent huge pages.
//!
//! The auxiliary vector comes from the first of these that answers (no
//! libc, no `getauxval`: a library does not own the initial stack):
//!
//! 1. `prctl(PR_GET_AUXV)` (Linux 6.4+): needs no file system, works in a
//!    non-dumpable process and under a seccomp filter that denies `openat`;
//! 2. `/proc/self/auxv`, read with raw `openat`/`read`/`close` (any kernel,
//!    when `/proc` is mounted and the process may read it: not in a
//!    non-dumpable process of another uid than the file's owner);
//! 3. neither: the page size is measured with `mmap`/`mprotect` alone
//!    ([`probe_page_size`]), and `AT_HWCAP`/`AT_HWCAP2` are taken as 0, so
//!    every hardening feature (MTE, BTI, PAC) reads as absent. An unknown
//!    feature is never used. [`Auxv::source`] says which one answered, and
//!    the `probe` binary prints it.
//!
//! Under qemu-user: qemu 7.2 (Debian 12) answers `PR_GET_AUXV` with EINVAL
//! (it forwards no unknown `prctl` to the host kernel), so step 2 answers;
//! qemu synthesises `/proc/self/auxv` for the guest itself, with the guest
//! CPU's values, whatever is mounted on `/proc`. Later qemu versions
//! implement `PR_GET_AUXV` with the guest's vector. The first answer is
//! cached for the process.

use core::ffi::CStr;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use linux_raw_sys::auxvec::{AT_HWCAP, AT_HWCAP2, AT_PAGESZ};
use linux_raw_sys::general::{
    AT_FDCWD, MAP_ANONYMOUS, MAP_NORESERVE, MAP_PRIVATE, O_CLOEXEC, O_RDONLY, PROT_NONE,
};
use linux_raw_sys::prctl::PR_GET_AUXV;

use super::futex::futex2_wake;
use super::syscall::{ret, ret_unit};
use crate::errno::{Errno, Result};

/// The values this crate takes from the auxiliary vector.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Auxv {
    /// `AT_PAGESZ`.
    pub page_size: usize,
    /// `AT_HWCAP` (0 if absent).
    pub hwcap: usize,
    /// `AT_HWCAP2` (0 if absent).
    pub hwcap2: usize,
    /// Where these values came from.
    pub source: AuxvSource,
}

/// Where [`Auxv`]'s values came from (see the [module docs](self)).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum AuxvSource {
    /// `prctl(PR_GET_AUXV)` (Linux 6.4+).
    Prctl,
    /// `/proc/self/auxv`.
    Proc,
    /// Neither answered: the page size was measured with
    /// [`probe_page_size`]; `hwcap` and `hwcap2` are 0 (unknown, so every
    /// hardening feature is treated as absent).
    Probed,
}

impl AuxvSource {
    /// All sources, in the order [`auxv`] tries them.
    pub const ALL: [AuxvSource; 3] = [AuxvSource::Prctl, AuxvSource::Proc, AuxvSource::Probed];

    fn to_raw(self) -> usize {
        match self {
            AuxvSource::Prctl => 0,
            AuxvSource::Proc => 1,
            AuxvSource::Probed => 2,
        }
    }

    fn from_raw(raw: usize) -> AuxvSource {
        match raw {
            0 => AuxvSource::Prctl,
            1 => AuxvSource::Proc,
            _ => AuxvSource::Probed,
        }
    }
}

impl Auxv {
    /// Reads the values from `source` alone, bypassing the cache (tests and
    /// diagnostics; [`auxv`] is what the library uses). Fails with the
    /// source's error: EINVAL for `Prctl` on a kernel before 6.4, ENOENT or
    /// EACCES for `Proc` without a readable `/proc`.
    pub fn read(source: AuxvSource) -> Result<Auxv> {
        let mut buf = [MaybeUninit::uninit(); AUXV_BUF];
        match source {
            AuxvSource::Prctl => parse(read_prctl(&mut buf)?, source),
            AuxvSource::Proc => parse(read_file(c"/proc/self/auxv", &mut buf)?, source),
            AuxvSource::Probed => Ok(Auxv {
                page_size: probe_page_size()?,
                hwcap: 0,
                hwcap2: 0,
                source,
            }),
        }
    }

    /// MTE (aarch64 `HWCAP2_MTE`); always false elsewhere.
    pub fn mte(&self) -> bool {
        self.hwcap2_bit(Bit::Mte)
    }

    /// BTI (aarch64 `HWCAP2_BTI`); always false elsewhere.
    pub fn bti(&self) -> bool {
        self.hwcap2_bit(Bit::Bti)
    }

    /// Pointer authentication with the address keys (aarch64 `HWCAP_PACA`);
    /// always false elsewhere.
    pub fn pac(&self) -> bool {
        self.hwcap2_bit(Bit::Paca)
    }

    /// The generic timer's event stream is on for user space (aarch64
    /// `HWCAP_EVTSTRM`; Linux runs it at 10 kHz, so a `wfe` never sleeps
    /// longer than 100 µs); always false elsewhere.
    pub fn event_stream(&self) -> bool {
        self.hwcap2_bit(Bit::Evtstrm)
    }

    /// `wfet`/`wfit` (aarch64 FEAT_WFxT, `HWCAP2_WFXT`); always false
    /// elsewhere.
    pub fn wfxt(&self) -> bool {
        self.hwcap2_bit(Bit::Wfxt)
    }

    #[cfg(target_arch = "aarch64")]
    fn hwcap2_bit(&self, bit: Bit) -> bool {
        use linux_raw_sys::ptrace::{
            HWCAP_EVTSTRM, HWCAP_PACA, HWCAP2_BTI, HWCAP2_MTE, HWCAP2_WFXT,
        };
        match bit {
            Bit::Mte => self.hwcap2 & HWCAP2_MTE as usize != 0,
            Bit::Bti => self.hwcap2 & HWCAP2_BTI as usize != 0,
            Bit::Paca => self.hwcap & HWCAP_PACA as usize != 0,
            Bit::Evtstrm => self.hwcap & HWCAP_EVTSTRM as usize != 0,
            Bit::Wfxt => self.hwcap2 & HWCAP2_WFXT as usize != 0,
        }
    }

    #[cfg(not(target_arch = "aarch64"))]
    fn hwcap2_bit(&self, _bit: Bit) -> bool {
        false
    }
}

enum Bit {
    Mte,
    Bti,
    Paca,
    Evtstrm,
    Wfxt,
}

// Cache: PAGE_SIZE == 0 means "not read yet". Racing first readers compute
// the same values; each field is published before PAGE_SIZE (Release).
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
static HWCAP: AtomicUsize = AtomicUsize::new(0);
static HWCAP2: AtomicUsize = AtomicUsize::new(0);
static SOURCE: AtomicUsize = AtomicUsize::new(0);

/// The auxiliary vector values, read once per process from the first
/// source that answers (see the [module docs](self)). Fails only when the
/// page size cannot even be measured (`mmap` or `mprotect` refused).
pub fn auxv() -> Result<Auxv> {
    let page_size = PAGE_SIZE.load(Ordering::Acquire);
    if page_size != 0 {
        return Ok(Auxv {
            page_size,
            hwcap: HWCAP.load(Ordering::Relaxed),
            hwcap2: HWCAP2.load(Ordering::Relaxed),
            source: AuxvSource::from_raw(SOURCE.load(Ordering::Relaxed)),
        });
    }
    let aux = Auxv::read(AuxvSource::Prctl)
        .or_else(|_| Auxv::read(AuxvSource::Proc))
        .or_else(|_| Auxv::read(AuxvSource::Probed))?;
    HWCAP.store(aux.hwcap, Ordering::Relaxed);
    HWCAP2.store(aux.hwcap2, Ordering::Relaxed);
    SOURCE.store(aux.source.to_raw(), Ordering::Relaxed);
    PAGE_SIZE.store(aux.page_size, Ordering::Release);
    Ok(aux)
}

/// Room for the whole vector: the kernel's `saved_auxv` is
/// `AT_VECTOR_SIZE` words (under 60 on x86_64 and arm64: 448 bytes on
/// x86_64 with Linux 6.x), `/proc/self/auxv` is the same bytes.
const AUXV_BUF: usize = 1024;

/// `prctl(PR_GET_AUXV, buf, len, 0, 0)`: copies the vector and returns its
/// full length; [`Errno::OVERFLOW`] if it did not fit, EINVAL before Linux
/// 6.4.
fn read_prctl(buf: &mut [MaybeUninit<u8>]) -> Result<&[u8]> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    let full = ret(unsafe {
        syscall!(
            __NR_prctl,
            PR_GET_AUXV as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0
        )
    })?;
    if full > buf.len() {
        return Err(Errno::OVERFLOW);
    }
    // SAFETY: the kernel initialised the first `full` bytes (it copies
    // min(len, full) and `full <= len` here); `MaybeUninit<u8>` and `u8`
    // have the same layout.
    Ok(unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), full) })
}

/// Parses an auxiliary vector: (type, value) pairs of native words ending
/// with `AT_NULL`.
fn parse(data: &[u8], source: AuxvSource) -> Result<Auxv> {
    let word = core::mem::size_of::<usize>();
    let mut aux = Auxv {
        page_size: 0,
        hwcap: 0,
        hwcap2: 0,
        source,
    };
    for pair in data.chunks_exact(2 * word) {
        let (k, v) = pair.split_at(word);
        let k = usize::from_ne_bytes(k.try_into().map_err(|_| Errno::IO)?);
        let v = usize::from_ne_bytes(v.try_into().map_err(|_| Errno::IO)?);
        match k as u32 {
            0 => break,
            AT_PAGESZ => aux.page_size = v,
            AT_HWCAP => aux.hwcap = v,
            AT_HWCAP2 => aux.hwcap2 = v,
            _ => {}
        }
    }
    if !aux.page_size.is_power_of_two() || aux.page_size < 4096 {
        return Err(Errno::IO);
    }
    Ok(aux)
}

/// The smallest page size the probe tries (no Linux port has smaller
/// pages).
const PROBE_MIN: usize = 4096;
/// The largest it tries: 256 KiB (hexagon, ppc44x) is the largest base page
/// any Linux port offers; arm64 and ppc64 go to 64 KiB.
const PROBE_MAX: usize = 256 * 1024;

/// Measures the page size with `mmap` and `mprotect` alone (no file, no
/// auxiliary vector).
///
/// `mprotect` fails with EINVAL exactly when its address is not a multiple
/// of the page size P (the length is rounded up). The probe reserves
/// `3 * PROBE_MAX` bytes of `PROT_NONE` address space, and for each
/// candidate `c` = 4 KiB, 8 KiB, .. 256 KiB picks the address `x` in it
/// that is an *odd* multiple of `c`, and asks for `mprotect(x, c,
/// PROT_NONE)`. Since `c` and P are powers of two and the largest power of
/// two dividing `x` is `c`, P divides `x` exactly when P <= `c`: the call
/// fails with EINVAL for every `c` < P and succeeds (changing nothing: the
/// range is already `PROT_NONE`, and `[x, x + c)` lies inside the mapping,
/// since `x < start + 2c`) for `c` = P, the answer. Any other error is
/// returned as is (a sandbox that denies `mprotect` denies the allocator
/// too); a page size above `PROBE_MAX` is EINVAL for every candidate and
/// reported as [`Errno::IO`].
pub fn probe_page_size() -> Result<usize> {
    let len = 3 * PROBE_MAX;
    let flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
    // SAFETY: no MAP_FIXED: the kernel picks an unused range, and nothing
    // refers to it.
    let start = unsafe { super::mm::mmap(core::ptr::null_mut(), len, PROT_NONE, flags, -1, 0)? };
    let base = start.as_ptr() as usize;
    let mut found = Err(Errno::IO);
    let mut c = PROBE_MIN;
    while c <= PROBE_MAX {
        let mut x = base.next_multiple_of(c);
        // `x` is a multiple of `c`; bit `c` clear means an even one.
        if x & c == 0 {
            x += c;
        }
        // `x + c <= base + 3c - 1 < base + len`: inside the mapping. The
        // pointer is derived from `start`, which covers it.
        let at = start.as_ptr().wrapping_add(x - base);
        // SAFETY: PROT_NONE over a PROT_NONE range of our own mapping that
        // nothing refers to changes nothing.
        match unsafe { super::mm::mprotect(at, c, PROT_NONE) } {
            Ok(()) => {
                found = Ok(c);
                break;
            }
            Err(Errno::INVAL) => c *= 2,
            Err(e) => {
                found = Err(e);
                break;
            }
        }
    }
    // SAFETY: the mapping is ours and nothing refers to it.
    let unmapped = unsafe { super::mm::munmap(start.as_ptr(), len) };
    let page_size = found?;
    unmapped?;
    Ok(page_size)
}

/// Reads a whole (small) file into `buf`; returns the bytes read, or
/// [`Errno::OVERFLOW`] if it does not fit. The buffer may start
/// uninitialised: zeroing it would be a `memset` call, which a libc-free
/// link cannot resolve.
fn read_file<'b>(path: &CStr, buf: &'b mut [MaybeUninit<u8>]) -> Result<&'b [u8]> {
    // SAFETY: `path` is NUL-terminated and outlives the call.
    let fd = ret(unsafe {
        syscall!(
            __NR_openat,
            AT_FDCWD as isize as usize,
            path.as_ptr() as usize,
            (O_RDONLY | O_CLOEXEC) as usize,
            0
        )
    })?;
    let mut len = 0;
    let result = loop {
        let rest = &mut buf[len..];
        if rest.is_empty() {
            break Err(Errno::OVERFLOW);
        }
        // SAFETY: the kernel writes at most `rest.len()` bytes into `rest`.
        match ret(unsafe { syscall!(__NR_read, fd, rest.as_mut_ptr() as usize, rest.len()) }) {
            Ok(0) => break Ok(len),
            Ok(n) => len += n,
            Err(Errno::INTR) => {}
            Err(e) => break Err(e),
        }
    };
    // SAFETY: `fd` was opened above and is closed exactly once.
    let closed = ret_unit(unsafe { syscall!(__NR_close, fd) });
    let len = result?;
    closed?;
    // SAFETY: the kernel initialised the first `len` bytes (read returned
    // their counts); `MaybeUninit<u8>` and `u8` have the same layout.
    Ok(unsafe { core::slice::from_raw_parts(buf.as_ptr().cast::<u8>(), len) })
}

/// Transparent huge pages, from `/sys/kernel/mm/transparent_hugepage/enabled`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Thp {
    /// Used for every suitable anonymous mapping.
    Always,
    /// Used where `madvise(MADV_HUGEPAGE)` asks for it.
    Madvise,
    /// Disabled.
    Never,
    /// The kernel (or emulator) does not offer THP, or the file is unreadable.
    Unavailable,
}

impl Thp {
    /// Reads the current mode.
    pub fn detect() -> Thp {
        let mut buf = [MaybeUninit::uninit(); 128];
        match read_file(c"/sys/kernel/mm/transparent_hugepage/enabled", &mut buf) {
            Ok(text) => Self::parse(text),
            Err(_) => Thp::Unavailable,
        }
    }

    /// Parses the file's contents: the active mode is bracketed, as in
    /// `always [madvise] never`.
    pub fn parse(text: &[u8]) -> Thp {
        let Some(open) = text.iter().position(|&b| b == b'[') else {
            return Thp::Unavailable;
        };
        let rest = &text[open + 1..];
        let Some(close) = rest.iter().position(|&b| b == b']') else {
            return Thp::Unavailable;
        };
        match &rest[..close] {
            b"always" => Thp::Always,
            b"madvise" => Thp::Madvise,
            b"never" => Thp::Never,
            _ => Thp::Unavailable,
        }
    }
}

/// Everything the probe reports.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// Page size, raw HWCAP words and where they came from.
    pub auxv: Auxv,
    /// Memory tagging (aarch64 MTE).
    pub mte: bool,
    /// Branch-target identification (aarch64 BTI).
    pub bti: bool,
    /// Pointer authentication, address keys (aarch64 PAC).
    pub pac: bool,
    /// The futex2 system calls (`futex_wake`, Linux 6.7) answer.
    pub futex2: bool,
    /// Transparent huge pages.
    pub thp: Thp,
}

impl Capabilities {
    /// Probes the machine (a few system calls; cheap but not free). Works
    /// without `/proc` (see the [module docs](self)); with no auxiliary
    /// vector at all, `auxv.source` is [`AuxvSource::Probed`] and MTE, BTI
    /// and PAC read as absent.
    pub fn detect() -> Result<Capabilities> {
        let auxv = auxv()?;
        Ok(Capabilities {
            auxv,
            mte: auxv.mte(),
            bti: auxv.bti(),
            pac: auxv.pac(),
            futex2: futex2_present()?,
            thp: Thp::detect(),
        })
    }
}

/// Asks futex2 to wake nobody: 0 means the call exists, ENOSYS that it
/// does not.
fn futex2_present() -> Result<bool> {
    let word = AtomicU32::new(0);
    // SAFETY: `word` is a live AtomicU32 that nobody waits on.
    match unsafe { futex2_wake(word.as_ptr(), u32::MAX, 0) } {
        Ok(_) => Ok(true),
        Err(Errno::NOSYS) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thp_parse() {
        assert_eq!(Thp::parse(b"always [madvise] never\n"), Thp::Madvise);
        assert_eq!(Thp::parse(b"[always] madvise never\n"), Thp::Always);
        assert_eq!(Thp::parse(b"always madvise [never]\n"), Thp::Never);
        assert_eq!(Thp::parse(b"garbage"), Thp::Unavailable);
        assert_eq!(Thp::parse(b"[bogus]"), Thp::Unavailable);
    }

    /// Page size and AT_HWCAP2 against libc's `getauxval`.
    #[test]
    fn auxv_matches_libc() {
        let aux = auxv().unwrap();
        assert_matches_libc(&aux);
    }

    fn assert_matches_libc(aux: &Auxv) {
        // SAFETY: getauxval is always safe to call.
        let get = |t| unsafe { libc::getauxval(t) } as usize;
        assert_eq!(aux.page_size, get(libc::AT_PAGESZ), "{aux:?}");
        assert_eq!(aux.hwcap2, get(libc::AT_HWCAP2), "{aux:?}");
        // glibc on x86 replaces AT_HWCAP with its own platform bits, so
        // there the oracle is the kernel's source for it: CPUID.1:EDX.
        #[cfg(target_arch = "x86_64")]
        let hwcap = core::arch::x86_64::__cpuid(1).edx as usize;
        #[cfg(not(target_arch = "x86_64"))]
        let hwcap = get(libc::AT_HWCAP);
        assert_eq!(aux.hwcap, hwcap, "{aux:?}");
    }

    /// Each source alone: `PR_GET_AUXV` agrees with libc where the kernel
    /// (or emulator) has it and is EINVAL where not; `/proc` agrees with
    /// libc; the mapping probe finds libc's page size and no hardening.
    #[test]
    fn each_source_agrees_with_libc() {
        match Auxv::read(AuxvSource::Prctl) {
            Ok(aux) => {
                assert_eq!(aux.source, AuxvSource::Prctl);
                assert_matches_libc(&aux);
            }
            // Linux before 6.4, or qemu-user 7.2.
            Err(e) => assert_eq!(e, Errno::INVAL),
        }
        let proc = Auxv::read(AuxvSource::Proc).unwrap();
        assert_eq!(proc.source, AuxvSource::Proc);
        assert_matches_libc(&proc);
        let probed = Auxv::read(AuxvSource::Probed).unwrap();
        assert_eq!(
            probed,
            Auxv {
                page_size: proc.page_size,
                hwcap: 0,
                hwcap2: 0,
                source: AuxvSource::Probed
            }
        );
        assert!(!probed.mte() && !probed.bti() && !probed.pac());
    }

    /// The probe finds the same size again and again (no state left in the
    /// address space: every probe mapping is unmapped).
    #[test]
    fn probe_page_size_is_stable() {
        // SAFETY: sysconf reads no caller memory.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        for _ in 0..16 {
            assert_eq!(probe_page_size(), Ok(page));
        }
    }

    #[test]
    fn parse_rejects_a_vector_without_a_page_size() {
        let word = core::mem::size_of::<usize>();
        let mut v = [0u8; 64];
        v[..word].copy_from_slice(&(AT_HWCAP as usize).to_ne_bytes());
        v[word..2 * word].copy_from_slice(&7usize.to_ne_bytes());
        assert_eq!(parse(&v, AuxvSource::Proc), Err(Errno::IO));
        v[2 * word..3 * word].copy_from_slice(&(AT_PAGESZ as usize).to_ne_bytes());
        v[3 * word..4 * word].copy_from_slice(&16384usize.to_ne_bytes());
        let aux = parse(&v, AuxvSource::Prctl).unwrap();
        assert_eq!((aux.page_size, aux.hwcap, aux.hwcap2), (16384, 7, 0));
    }

    #[test]
    fn read_file_reports_missing_and_too_long() {
        let mut buf = [MaybeUninit::uninit(); 4];
        assert_eq!(read_file(c"/nonexistent/wrt", &mut buf), Err(Errno::NOENT));
        assert_eq!(
            read_file(c"/proc/self/auxv", &mut buf),
            Err(Errno::OVERFLOW)
        );
    }
}
