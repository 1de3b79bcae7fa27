//! What this machine offers: page size and hardware capabilities from the
//! auxiliary vector, futex2, transparent huge pages.
//!
//! The auxiliary vector is read from `/proc/self/auxv` with raw
//! `openat`/`read`/`close` (no libc, no `getauxval`): a library does not own
//! the initial stack. Under qemu-user the emulator answers that file with
//! the guest CPU's values. The first read is cached for the process.

use core::ffi::CStr;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use linux_raw_sys::auxvec::{AT_HWCAP, AT_HWCAP2, AT_PAGESZ};
use linux_raw_sys::general::{AT_FDCWD, O_CLOEXEC, O_RDONLY};

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
}

impl Auxv {
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

    #[cfg(target_arch = "aarch64")]
    fn hwcap2_bit(&self, bit: Bit) -> bool {
        use linux_raw_sys::ptrace::{HWCAP_PACA, HWCAP2_BTI, HWCAP2_MTE};
        match bit {
            Bit::Mte => self.hwcap2 & HWCAP2_MTE as usize != 0,
            Bit::Bti => self.hwcap2 & HWCAP2_BTI as usize != 0,
            Bit::Paca => self.hwcap & HWCAP_PACA as usize != 0,
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
}

// Cache: PAGE_SIZE == 0 means "not read yet". Racing first readers compute
// the same values; each field is published before PAGE_SIZE (Release).
static PAGE_SIZE: AtomicUsize = AtomicUsize::new(0);
static HWCAP: AtomicUsize = AtomicUsize::new(0);
static HWCAP2: AtomicUsize = AtomicUsize::new(0);

/// The auxiliary vector values, read once per process.
pub fn auxv() -> Result<Auxv> {
    let page_size = PAGE_SIZE.load(Ordering::Acquire);
    if page_size != 0 {
        return Ok(Auxv {
            page_size,
            hwcap: HWCAP.load(Ordering::Relaxed),
            hwcap2: HWCAP2.load(Ordering::Relaxed),
        });
    }
    let aux = read_auxv()?;
    HWCAP.store(aux.hwcap, Ordering::Relaxed);
    HWCAP2.store(aux.hwcap2, Ordering::Relaxed);
    PAGE_SIZE.store(aux.page_size, Ordering::Release);
    Ok(aux)
}

/// Parses `/proc/self/auxv`: (type, value) pairs of native words ending
/// with `AT_NULL`.
fn read_auxv() -> Result<Auxv> {
    let mut buf = [MaybeUninit::uninit(); 1024];
    let data = read_file(c"/proc/self/auxv", &mut buf)?;
    let word = core::mem::size_of::<usize>();
    let mut aux = Auxv {
        page_size: 0,
        hwcap: 0,
        hwcap2: 0,
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
    /// Page size and raw HWCAP words.
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
    /// Probes the machine (a few system calls; cheap but not free).
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
        // SAFETY: getauxval is always safe to call.
        let get = |t| unsafe { libc::getauxval(t) } as usize;
        assert_eq!(aux.page_size, get(libc::AT_PAGESZ));
        assert_eq!(aux.hwcap2, get(libc::AT_HWCAP2));
        // glibc on x86 replaces AT_HWCAP with its own platform bits, so
        // there the oracle is the kernel's source for it: CPUID.1:EDX.
        #[cfg(target_arch = "x86_64")]
        let hwcap = core::arch::x86_64::__cpuid(1).edx as usize;
        #[cfg(not(target_arch = "x86_64"))]
        let hwcap = get(libc::AT_HWCAP);
        assert_eq!(aux.hwcap, hwcap);
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
