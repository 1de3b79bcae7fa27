//! `mach_vm_copy` and `mach_vm_remap` as hand-built MIG messages, sent with
//! the `mach_msg2` trap to this task's port (the kernel is the server).
//!
//! Neither is a Mach trap: libSystem's `mach_vm_copy()` is MIG-generated
//! user code that fills a request, sends it to the task port and waits for
//! the reply on a reply port. This module builds the same bytes.
//!
//! # Layouts
//!
//! From the MIG-generated `mach/mach_vm.h` of the macOS SDK
//! (`__Request__mach_vm_copy_t`, `__Request__mach_vm_remap_t`,
//! `__Reply__mach_vm_remap_t`; every struct under `#pragma pack(4)`) and
//! `osfmk/mach/message.h` / `ndr.h` / `mig_errors.h` (header, port
//! descriptor, `NDR_record_t`, `mig_reply_error_t`). The Rust structs are
//! `#[repr(C, packed(4))]` to get the same alignment; each field's offset
//! and each struct's size is pinned by a `const` assertion and by a test
//! that writes the field and finds its bytes at that offset.
//!
//! | message | id | size | body after the 24-byte header |
//! |---|---|---|---|
//! | `mach_vm_copy` request | 4807 | 56 | NDR, `source_address`, `size`, `dest_address` |
//! | `mach_vm_remap` request (complex) | 4813 | 92 | descriptor count 1, `src_task` port descriptor, NDR, `target_address`, `size`, `mask`, `flags`, `src_address` (at 76: packed), `copy`, `inheritance` |
//! | `mach_vm_copy` reply = `mig_reply_error_t` | 4907 | 36 | NDR, `RetCode` |
//! | `mach_vm_remap` reply | 4913 | 52 | NDR, `RetCode`, `target_address`, `cur_protection`, `max_protection` |
//!
//! A receive also gets a trailer: without `MACH_RCV_TRAILER_*` options it is
//! `mach_msg_trailer_t` (8 bytes, `REQUESTED_TRAILER_SIZE`), so the receive
//! buffer is the largest reply plus 8, as MIG's own `Reply` types are.
//!
//! # Sending: `mach_msg2_trap`, not `mach_msg_trap`
//!
//! On current macOS the legacy `mach_msg_trap` (-31) refuses every message
//! but five ids (`mach_vm_read`, `task_info`, ...) from binaries linked
//! against an SDK of macOS 12 or later, raising a guard exception
//! (`osfmk/ipc/mach_msg.c` `mach_msg_legacy_allowed`). libSystem sends
//! with `mach_msg2_trap` (-47), whose eight arguments carry the header in
//! pairs of 32-bit halves ([`Msg2Args`], the packing of `mach_msg2()` in
//! `message.h`), and whose options must carry exactly one "CFI" bit when
//! sending: `MACH64_SEND_KOBJECT_CALL` for a kernel object such as the task
//! port (`mach_msg2_cfi_option_valid`).
//!
//! # Reply port
//!
//! MIG uses a per-thread reply port kept by libSystem. Without it each call
//! makes a fresh receive right with `mach_reply_port()` (trap -26), names it
//! `MAKE_SEND_ONCE` as the local port (a reply port's only accepted
//! disposition in `ipc_policy.c`), and destroys it afterwards with
//! `mach_port_mod_refs(task, port, MACH_PORT_RIGHT_RECEIVE, -1)` (trap -19),
//! also when the call failed: two extra traps per call, next to a call that
//! maps or copies whole pages.
//!
//! # Decoding (`__MIG_check__Reply__*` in the generated user code)
//!
//! [`check_reply`]: a reply id other than request + 100 is
//! `MIG_REPLY_MISMATCH`, or `MIG_SERVER_DIED` when it is
//! `MACH_NOTIFY_SEND_ONCE`; a complex reply, or a size that is neither the
//! routine's reply nor a `mig_reply_error_t` carrying a non-zero `RetCode`,
//! is `MIG_TYPE_ERROR`; otherwise `RetCode` is the answer.
//!
//! Everything here is pure and runs in the host's unit tests; the calls are
//! in [`super::sys`] and the users in [`super::mm`].

use core::mem::{offset_of, size_of};

use super::abi::KernReturn;
use super::consts::{mach_msg as m, mig};

// Addresses travel in u64 fields; the backend is 64-bit only.
const _: () = assert!(size_of::<usize>() == 8);

/// `mach_msg_header_t` (24 bytes).
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// `msgh_bits`: remote disposition in bits 4..0, local in 12..8,
    /// `MACH_MSGH_BITS_COMPLEX`.
    pub bits: u32,
    /// `msgh_size`: bytes of the message (header included, trailer not).
    pub size: u32,
    /// `msgh_remote_port`: the destination (the task port).
    pub remote_port: u32,
    /// `msgh_local_port`: the reply port.
    pub local_port: u32,
    /// `msgh_voucher_port`: 0.
    pub voucher_port: u32,
    /// `msgh_id`: the routine id.
    pub id: i32,
}

/// `NDR_record_t` (8 bytes): how the sender encodes data.
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Ndr {
    /// `mig_vers` (`NDR_PROTOCOL_2_0` = 0).
    pub mig_vers: u8,
    /// `if_vers`.
    pub if_vers: u8,
    /// `reserved1`.
    pub reserved1: u8,
    /// `mig_encoding`.
    pub mig_encoding: u8,
    /// `int_rep`: `NDR_INT_LITTLE_ENDIAN`.
    pub int_rep: u8,
    /// `char_rep` (`NDR_CHAR_ASCII` = 0).
    pub char_rep: u8,
    /// `float_rep` (`NDR_FLOAT_IEEE` = 0).
    pub float_rep: u8,
    /// `reserved2`.
    pub reserved2: u8,
}

/// libSystem's `NDR_record` on a little-endian machine.
pub const NDR_RECORD: Ndr = Ndr {
    mig_vers: 0,
    if_vers: 0,
    reserved1: 0,
    mig_encoding: 0,
    int_rep: m::NDR_INT_LITTLE_ENDIAN,
    char_rep: 0,
    float_rep: 0,
    reserved2: 0,
};

/// `mach_msg_port_descriptor_t` of a user-space LP64 sender (12 bytes):
/// `name; pad1; pad2:16; disposition:8; type:8` (the bit-fields fill one
/// little-endian `u32`, so `disposition` is byte 10 and `type` byte 11).
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct PortDescriptor {
    /// The port name.
    pub name: u32,
    /// `pad1`.
    pub pad1: u32,
    /// `pad2` (bit-field bits 15..0).
    pub pad2: u16,
    /// The right to send (bits 23..16).
    pub disposition: u8,
    /// `MACH_MSG_PORT_DESCRIPTOR` (bits 31..24).
    pub kind: u8,
}

/// `__Request__mach_vm_copy_t` (56 bytes).
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct VmCopyRequest {
    /// Header, id 4807.
    pub head: Header,
    /// `NDR`.
    pub ndr: Ndr,
    /// `source_address`.
    pub source_address: u64,
    /// `size`.
    pub size: u64,
    /// `dest_address`.
    pub dest_address: u64,
}

/// `__Request__mach_vm_remap_t` (92 bytes; complex: one port descriptor).
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct VmRemapRequest {
    /// Header, id 4813, `MACH_MSGH_BITS_COMPLEX`.
    pub head: Header,
    /// `msgh_body.msgh_descriptor_count`: 1.
    pub descriptor_count: u32,
    /// `src_task`: the task whose memory is mapped.
    pub src_task: PortDescriptor,
    /// `NDR`.
    pub ndr: Ndr,
    /// `target_address` (in: where, with `VM_FLAGS_FIXED`).
    pub target_address: u64,
    /// `size`.
    pub size: u64,
    /// `mask`: alignment mask for `VM_FLAGS_ANYWHERE`.
    pub mask: u64,
    /// `flags`: `VM_FLAGS_*`.
    pub flags: i32,
    /// `src_address` (offset 76: only 4-byte aligned under `pack(4)`).
    pub src_address: u64,
    /// `copy`: `boolean_t`, 1 = copy-on-write copy, 0 = share.
    pub copy: u32,
    /// `inheritance`: `vm_inherit_t` of the new mapping.
    pub inheritance: u32,
}

/// `mig_reply_error_t` = `__Reply__mach_vm_copy_t` (36 bytes).
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyError {
    /// Header.
    pub head: Header,
    /// `NDR`.
    pub ndr: Ndr,
    /// `RetCode`: the routine's `kern_return_t`.
    pub ret_code: i32,
}

/// `__Reply__mach_vm_remap_t` (52 bytes).
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct VmRemapReply {
    /// Header.
    pub head: Header,
    /// `NDR`.
    pub ndr: Ndr,
    /// `RetCode`.
    pub ret_code: i32,
    /// `target_address` (out: where the mapping is).
    pub target_address: u64,
    /// `cur_protection` of the new mapping.
    pub cur_protection: i32,
    /// `max_protection` of the new mapping.
    pub max_protection: i32,
}

/// `mach_msg_trailer_t` (8 bytes), appended by the kernel on receive.
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Trailer {
    /// `msgh_trailer_type` (`MACH_MSG_TRAILER_FORMAT_0`).
    pub kind: u32,
    /// `msgh_trailer_size`.
    pub size: u32,
}

/// The receive side of a call: the largest reply, then room for the
/// trailer (MIG's user-side `Reply` has the same shape).
#[repr(C, packed(4))]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplyBuffer {
    /// The reply (or the first 36 bytes of it: a `mig_reply_error_t`).
    pub reply: VmRemapReply,
    /// The trailer.
    pub trailer: Trailer,
}

/// One buffer for a call: `mach_msg2` sends from it and receives into it.
#[repr(C, align(8))]
#[derive(Copy, Clone)]
pub union MsgBuffer {
    /// Sending `mach_vm_copy`.
    pub copy: VmCopyRequest,
    /// Sending `mach_vm_remap`.
    pub remap: VmRemapRequest,
    /// After the receive.
    pub reply: ReplyBuffer,
    /// All of it (zeroed before use, so the union is always initialised).
    pub bytes: [u8; MSG_BUFFER_LEN],
}

/// Bytes of [`MsgBuffer`]: the remap request (92), rounded to 8.
pub const MSG_BUFFER_LEN: usize = 96;

const _: () = {
    assert!(size_of::<Header>() == 24);
    assert!(offset_of!(Header, bits) == 0);
    assert!(offset_of!(Header, size) == 4);
    assert!(offset_of!(Header, remote_port) == 8);
    assert!(offset_of!(Header, local_port) == 12);
    assert!(offset_of!(Header, voucher_port) == 16);
    assert!(offset_of!(Header, id) == 20);

    assert!(size_of::<Ndr>() == 8);
    assert!(offset_of!(Ndr, int_rep) == 4);

    assert!(size_of::<PortDescriptor>() == 12);
    assert!(offset_of!(PortDescriptor, name) == 0);
    assert!(offset_of!(PortDescriptor, pad1) == 4);
    assert!(offset_of!(PortDescriptor, pad2) == 8);
    assert!(offset_of!(PortDescriptor, disposition) == 10);
    assert!(offset_of!(PortDescriptor, kind) == 11);

    assert!(size_of::<VmCopyRequest>() == 56);
    assert!(offset_of!(VmCopyRequest, ndr) == 24);
    assert!(offset_of!(VmCopyRequest, source_address) == 32);
    assert!(offset_of!(VmCopyRequest, size) == 40);
    assert!(offset_of!(VmCopyRequest, dest_address) == 48);

    assert!(size_of::<VmRemapRequest>() == 92);
    assert!(offset_of!(VmRemapRequest, descriptor_count) == 24);
    assert!(offset_of!(VmRemapRequest, src_task) == 28);
    assert!(offset_of!(VmRemapRequest, ndr) == 40);
    assert!(offset_of!(VmRemapRequest, target_address) == 48);
    assert!(offset_of!(VmRemapRequest, size) == 56);
    assert!(offset_of!(VmRemapRequest, mask) == 64);
    assert!(offset_of!(VmRemapRequest, flags) == 72);
    assert!(offset_of!(VmRemapRequest, src_address) == 76);
    assert!(offset_of!(VmRemapRequest, copy) == 84);
    assert!(offset_of!(VmRemapRequest, inheritance) == 88);

    assert!(size_of::<ReplyError>() == 36);
    assert!(offset_of!(ReplyError, ndr) == 24);
    assert!(offset_of!(ReplyError, ret_code) == 32);

    assert!(size_of::<VmRemapReply>() == 52);
    assert!(offset_of!(VmRemapReply, ret_code) == 32);
    assert!(offset_of!(VmRemapReply, target_address) == 36);
    assert!(offset_of!(VmRemapReply, cur_protection) == 44);
    assert!(offset_of!(VmRemapReply, max_protection) == 48);

    assert!(size_of::<Trailer>() == 8);
    assert!(size_of::<ReplyBuffer>() == 60);
    assert!(size_of::<MsgBuffer>() == MSG_BUFFER_LEN);
};

/// `MACH_MSGH_BITS(remote, local)` = `remote | local << 8`.
pub const fn msgh_bits(remote: u32, local: u32) -> u32 {
    remote | (local << 8)
}

/// The header of a request to `task` with the reply going to `reply`:
/// `COPY_SEND` of the task port (the caller keeps its right),
/// `MAKE_SEND_ONCE` of the reply port.
pub const fn request_header(task: u32, reply: u32, id: i32, size: u32, complex: bool) -> Header {
    let bits = msgh_bits(m::TYPE_COPY_SEND, m::TYPE_MAKE_SEND_ONCE);
    Header {
        bits: if complex {
            bits | m::MSGH_BITS_COMPLEX
        } else {
            bits
        },
        size,
        remote_port: task,
        local_port: reply,
        voucher_port: 0,
        id,
    }
}

/// The `mach_vm_copy(task, source, size, dest)` request.
pub fn vm_copy_request(task: u32, reply: u32, source: u64, size: u64, dest: u64) -> VmCopyRequest {
    VmCopyRequest {
        head: request_header(
            task,
            reply,
            mig::MACH_VM_COPY,
            size_of::<VmCopyRequest>() as u32,
            false,
        ),
        ndr: NDR_RECORD,
        source_address: source,
        size,
        dest_address: dest,
    }
}

/// What `mach_vm_remap` is asked to do (the routine's in-arguments).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Remap {
    /// `target_address`.
    pub target_address: u64,
    /// `size`.
    pub size: u64,
    /// `mask`.
    pub mask: u64,
    /// `flags` (`VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE` to replace a range).
    pub flags: i32,
    /// `src_task`: a task port name (this task's, for a local snapshot).
    pub src_task: u32,
    /// `src_address`.
    pub src_address: u64,
    /// `copy`: copy-on-write (true) or shared (false).
    pub copy: bool,
    /// `inheritance`.
    pub inheritance: u32,
}

/// The `mach_vm_remap(task, ...)` request: `src_task` travels as a port
/// descriptor with `COPY_SEND`, as MIG sends a `vm_map_t` argument.
pub fn vm_remap_request(task: u32, reply: u32, r: &Remap) -> VmRemapRequest {
    VmRemapRequest {
        head: request_header(
            task,
            reply,
            mig::MACH_VM_REMAP,
            size_of::<VmRemapRequest>() as u32,
            true,
        ),
        descriptor_count: 1,
        src_task: PortDescriptor {
            name: r.src_task,
            pad1: 0,
            pad2: 0,
            disposition: m::TYPE_COPY_SEND as u8,
            kind: m::PORT_DESCRIPTOR,
        },
        ndr: NDR_RECORD,
        target_address: r.target_address,
        size: r.size,
        mask: r.mask,
        flags: r.flags,
        src_address: r.src_address,
        copy: u32::from(r.copy),
        inheritance: r.inheritance,
    }
}

/// `__MIG_check__Reply__*`: checks a received reply to request `id` whose
/// successful reply is `ok_size` bytes. `Ok(())` means `RetCode` was
/// `KERN_SUCCESS` and the routine's out-arguments may be read.
pub fn check_reply(head: &Header, ret_code: i32, id: i32, ok_size: u32) -> Result<(), KernReturn> {
    let msgh_id = head.id;
    if msgh_id != id + mig::REPLY_DELTA {
        return Err(KernReturn::from_raw(if msgh_id == m::NOTIFY_SEND_ONCE {
            m::MIG_SERVER_DIED
        } else {
            m::MIG_REPLY_MISMATCH
        }));
    }
    let bits = head.bits;
    let size = head.size;
    let error_size = size_of::<ReplyError>() as u32;
    if bits & m::MSGH_BITS_COMPLEX != 0
        || (size != ok_size && (size != error_size || ret_code == 0))
    {
        return Err(KernReturn::from_raw(m::MIG_TYPE_ERROR));
    }
    match ret_code {
        0 => Ok(()),
        code => Err(KernReturn::from_raw(code)),
    }
}

/// Decodes the reply to `mach_vm_copy`.
pub fn vm_copy_reply(r: &ReplyBuffer) -> Result<(), KernReturn> {
    check_reply(
        &r.reply.head,
        r.reply.ret_code,
        mig::MACH_VM_COPY,
        size_of::<ReplyError>() as u32,
    )
}

/// What `mach_vm_remap` answered.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Remapped {
    /// Where the new mapping starts.
    pub address: u64,
    /// Its current protection (`vm_prot_t`, the source's).
    pub cur_protection: i32,
    /// Its maximum protection.
    pub max_protection: i32,
}

/// Decodes the reply to `mach_vm_remap`.
pub fn vm_remap_reply(r: &ReplyBuffer) -> Result<Remapped, KernReturn> {
    check_reply(
        &r.reply.head,
        r.reply.ret_code,
        mig::MACH_VM_REMAP,
        size_of::<VmRemapReply>() as u32,
    )?;
    Ok(Remapped {
        address: r.reply.target_address,
        cur_protection: r.reply.cur_protection,
        max_protection: r.reply.max_protection,
    })
}

/// The eight `mach_msg2_trap` arguments for a scalar (non-vector) call:
/// `mach_msg2()` in `message.h` packs `lo | hi << 32` pairs
/// (`MACH_MSG2_SHIFT_ARGS`), and the kernel unpacks them the same way in
/// `mach_msg2_trap`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Msg2Args {
    /// x0: `data`, the message buffer (send from it, receive into it).
    pub data: u64,
    /// x1: `options64`.
    pub options: u64,
    /// x2: `msgh_bits | send_size << 32`.
    pub bits_and_send_size: u64,
    /// x3: `msgh_remote_port | msgh_local_port << 32`.
    pub remote_and_local: u64,
    /// x4: `msgh_voucher_port | msgh_id << 32`.
    pub voucher_and_id: u64,
    /// x5: `descriptor count | rcv_name << 32` (count 0 for a simple
    /// message, which the kernel checks).
    pub desc_count_and_rcv_name: u64,
    /// x6: `rcv_size | priority << 32`.
    pub rcv_size_and_priority: u64,
    /// x7: `timeout` in ms (ignored without a timeout option).
    pub timeout: u64,
}

/// `(hi << 32) | lo`.
const fn pair(lo: u32, hi: u32) -> u64 {
    ((hi as u64) << 32) | lo as u64
}

/// What one `mach_msg2` call should do.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Msg2Op {
    /// Send the request and receive the reply (the normal call).
    SendReceive,
    /// Receive only (the reply to a request already sent).
    Receive,
}

/// The `mach_msg2_trap` arguments of a kernel-object call: `head` is the
/// request's header (also at the start of `data`), `desc_count` its
/// descriptor count, the reply is received on `head.local_port` into at
/// most `rcv_size` bytes of `data`.
pub fn msg2_args(data: u64, head: &Header, desc_count: u32, rcv_size: u32, op: Msg2Op) -> Msg2Args {
    let (options, send) = match op {
        Msg2Op::SendReceive => (m::SEND_MSG | m::RCV_MSG | m::SEND_KOBJECT_CALL, true),
        Msg2Op::Receive => (m::RCV_MSG, false),
    };
    let (bits, size, remote, local, voucher, id) = (
        head.bits,
        head.size,
        head.remote_port,
        head.local_port,
        head.voucher_port,
        head.id,
    );
    Msg2Args {
        data,
        options,
        bits_and_send_size: if send { pair(bits, size) } else { 0 },
        remote_and_local: if send { pair(remote, local) } else { 0 },
        voucher_and_id: if send { pair(voucher, id as u32) } else { 0 },
        desc_count_and_rcv_name: pair(if send { desc_count } else { 0 }, local),
        rcv_size_and_priority: pair(rcv_size, 0),
        timeout: 0,
    }
}

/// What to do after `mach_msg2` returned `mr` (libsyscall's `mach_msg2()`
/// restarts interrupted operations the same way unless the caller asked for
/// `MACH_SEND_INTERRUPT` / `MACH_RCV_INTERRUPT`, which this backend never
/// does).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum After {
    /// The reply is in the buffer.
    Done,
    /// The send was interrupted before it happened: send again.
    Resend,
    /// Sent, the receive was interrupted: receive again.
    Receive,
    /// Failed with this code (the buffer holds no reply).
    Fail(KernReturn),
}

/// Classifies `mach_msg2`'s return value (the low 32 bits of x0).
pub fn after_msg2(x0: usize) -> After {
    match x0 as u32 as i32 {
        m::MSG_SUCCESS => After::Done,
        m::SEND_INTERRUPTED => After::Resend,
        m::RCV_INTERRUPTED => After::Receive,
        code => After::Fail(KernReturn::from_raw(code)),
    }
}

/// A zeroed buffer.
pub const fn empty_buffer() -> MsgBuffer {
    MsgBuffer {
        bytes: [0; MSG_BUFFER_LEN],
    }
}

#[cfg(wrt_os = "macos")]
pub use imp::{vm_copy, vm_remap};

#[cfg(wrt_os = "macos")]
mod imp {
    use core::mem::size_of;

    use super::super::sys::{self, KernResult};
    use super::*;

    /// A reply port for one call, destroyed on drop.
    struct ReplyPort {
        name: u32,
    }

    impl ReplyPort {
        fn new() -> KernResult<Self> {
            match sys::mach_reply_port() {
                // No name left in the IPC space.
                0 => Err(KernReturn::from_raw(
                    super::super::consts::kern_return::KERN_RESOURCE_SHORTAGE,
                )),
                name => Ok(Self { name }),
            }
        }
    }

    impl Drop for ReplyPort {
        fn drop(&mut self) {
            // `with_task`: the call may have failed on a stale task name
            // (after fork), which must not leak the receive right.
            let _ = sys::with_task(|task| {
                sys::mach_port_mod_refs(task, self.name, m::PORT_RIGHT_RECEIVE, -1)
            });
        }
    }

    /// Sends the request `build` writes into the buffer (returning its
    /// header and descriptor count) to the kernel and receives the reply.
    fn call(build: impl Fn(u32, &mut MsgBuffer) -> (Header, u32)) -> KernResult<ReplyBuffer> {
        let port = ReplyPort::new()?;
        let mut buf = empty_buffer();
        let rcv_size = size_of::<ReplyBuffer>() as u32;
        let mut op = Msg2Op::SendReceive;
        loop {
            if op == Msg2Op::SendReceive {
                buf = empty_buffer();
            }
            let (head, desc) = build(port.name, &mut buf);
            let data = (&raw mut buf) as usize as u64;
            let args = msg2_args(data, &head, desc, rcv_size, op);
            // SAFETY: `buf` is MSG_BUFFER_LEN bytes, more than the request
            // and `rcv_size`; the request is a VM call on this task whose
            // caller (below) vouches for its memory effects.
            let x0 = unsafe { sys::mach_msg2(&args) };
            match after_msg2(x0) {
                // SAFETY: the kernel wrote a reply into the zeroed buffer;
                // every variant is plain data.
                After::Done => return Ok(unsafe { buf.reply }),
                // The request is rebuilt: an interrupted send may have
                // rewritten the header in the buffer.
                After::Resend => op = Msg2Op::SendReceive,
                After::Receive => op = Msg2Op::Receive,
                After::Fail(k) => return Err(k),
            }
        }
    }

    /// `mach_vm_copy(task, source, size, dest)`: copies `size` bytes
    /// (page-aligned) within `task`, copy-on-write where the kernel can.
    ///
    /// # Safety
    /// `[dest, dest + size)` is overwritten: no live reference may point
    /// there; the source must be readable and the destination writable.
    pub unsafe fn vm_copy(task: u32, source: u64, size: u64, dest: u64) -> KernResult<()> {
        let reply = call(|port, buf| {
            let req = vm_copy_request(task, port, source, size, dest);
            buf.copy = req;
            (req.head, 0)
        })?;
        vm_copy_reply(&reply)
    }

    /// `mach_vm_remap(task, ...)`: maps `r.size` bytes of `r.src_task` at
    /// `r.src_address` into `task`.
    ///
    /// # Safety
    /// With `VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE`, as for
    /// [`sys::mmap`] with `MAP_FIXED`.
    pub unsafe fn vm_remap(task: u32, r: &Remap) -> KernResult<Remapped> {
        let reply = call(|port, buf| {
            let req = vm_remap_request(task, port, r);
            buf.remap = req;
            (req.head, 1)
        })?;
        vm_remap_reply(&reply)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::macos::consts::{vm_flags, vm_inherit};

    extern crate std;
    use std::vec::Vec;

    /// The bytes of a `repr(C, packed(4))` value.
    fn bytes<T: Copy>(v: &T) -> Vec<u8> {
        // SAFETY: `T` is a plain-old-data message struct without padding
        // (every struct's size equals the sum of its fields, pinned above),
        // so all its bytes are initialised.
        unsafe { core::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }
            .to_vec()
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }

    const TASK: u32 = 0x203;
    const REPLY: u32 = 0x1a07;

    #[test]
    fn header_bits_and_fields() {
        // COPY_SEND (19) remote, MAKE_SEND_ONCE (21) local.
        assert_eq!(msgh_bits(19, 21), 0x1513);
        let h = request_header(TASK, REPLY, 4807, 56, false);
        let b = bytes(&h);
        assert_eq!(u32_at(&b, 0), 0x1513);
        assert_eq!(u32_at(&b, 4), 56);
        assert_eq!(u32_at(&b, 8), TASK);
        assert_eq!(u32_at(&b, 12), REPLY);
        assert_eq!(u32_at(&b, 16), 0);
        assert_eq!(u32_at(&b, 20), 4807);
        let c = request_header(TASK, REPLY, 4813, 92, true);
        assert_eq!(c.bits, 0x8000_1513);
    }

    #[test]
    fn ndr_record_bytes() {
        assert_eq!(bytes(&NDR_RECORD), [0, 0, 0, 0, 1, 0, 0, 0]);
    }

    #[test]
    fn vm_copy_request_every_field_at_its_offset() {
        let r = vm_copy_request(TASK, REPLY, 0x1_0000_4000, 0x8_0000, 0x2_0000_c000);
        let b = bytes(&r);
        assert_eq!(b.len(), 56);
        assert_eq!(u32_at(&b, 0), 0x1513, "not complex");
        assert_eq!(u32_at(&b, 4), 56, "msgh_size");
        assert_eq!(u32_at(&b, 8), TASK);
        assert_eq!(u32_at(&b, 12), REPLY);
        assert_eq!(u32_at(&b, 20), 4807);
        assert_eq!(&b[24..32], &[0, 0, 0, 0, 1, 0, 0, 0], "NDR");
        assert_eq!(u64_at(&b, 32), 0x1_0000_4000, "source_address");
        assert_eq!(u64_at(&b, 40), 0x8_0000, "size");
        assert_eq!(u64_at(&b, 48), 0x2_0000_c000, "dest_address");
    }

    #[test]
    fn vm_remap_request_every_field_at_its_offset() {
        let r = vm_remap_request(
            TASK,
            REPLY,
            &Remap {
                target_address: 0x3_0000_0000,
                size: 0x4_0000,
                mask: 0x3fff,
                flags: vm_flags::FIXED | vm_flags::OVERWRITE,
                src_task: TASK,
                src_address: 0x1_2345_4000,
                copy: true,
                inheritance: vm_inherit::COPY,
            },
        );
        let b = bytes(&r);
        assert_eq!(b.len(), 92);
        assert_eq!(u32_at(&b, 0), 0x8000_1513, "complex");
        assert_eq!(u32_at(&b, 4), 92);
        assert_eq!(u32_at(&b, 8), TASK);
        assert_eq!(u32_at(&b, 12), REPLY);
        assert_eq!(u32_at(&b, 16), 0);
        assert_eq!(u32_at(&b, 20), 4813);
        assert_eq!(u32_at(&b, 24), 1, "descriptor count");
        assert_eq!(u32_at(&b, 28), TASK, "src_task.name");
        assert_eq!(u32_at(&b, 32), 0, "src_task.pad1");
        assert_eq!(&b[36..38], &[0, 0], "src_task.pad2");
        assert_eq!(b[38], 19, "src_task.disposition = COPY_SEND");
        assert_eq!(b[39], 0, "src_task.type = PORT_DESCRIPTOR");
        // The descriptor's last word as the kernel reads the bit-fields.
        assert_eq!(u32_at(&b, 36), 19 << 16);
        assert_eq!(&b[40..48], &[0, 0, 0, 0, 1, 0, 0, 0], "NDR");
        assert_eq!(u64_at(&b, 48), 0x3_0000_0000, "target_address");
        assert_eq!(u64_at(&b, 56), 0x4_0000, "size");
        assert_eq!(u64_at(&b, 64), 0x3fff, "mask");
        assert_eq!(u32_at(&b, 72), 0x4000, "flags = FIXED | OVERWRITE");
        assert_eq!(u64_at(&b, 76), 0x1_2345_4000, "src_address (packed)");
        assert_eq!(u32_at(&b, 84), 1, "copy");
        assert_eq!(u32_at(&b, 88), 1, "inheritance");
        let share = vm_remap_request(
            TASK,
            REPLY,
            &Remap {
                target_address: 0,
                size: 1,
                mask: 0,
                flags: vm_flags::ANYWHERE,
                src_task: 7,
                src_address: 0,
                copy: false,
                inheritance: vm_inherit::SHARE,
            },
        );
        let b = bytes(&share);
        assert_eq!(u32_at(&b, 84), 0, "copy = FALSE");
        assert_eq!(u32_at(&b, 72), 1, "flags = ANYWHERE");
        assert_eq!(u32_at(&b, 28), 7, "src_task from the argument");
    }

    fn reply(id: i32, size: u32, bits: u32, ret: i32) -> ReplyBuffer {
        let mut r = ReplyBuffer::default();
        r.reply.head = Header {
            bits,
            size,
            remote_port: 0,
            local_port: REPLY,
            voucher_port: 0,
            id,
        };
        r.reply.ndr = NDR_RECORD;
        r.reply.ret_code = ret;
        r
    }

    fn raw(e: Result<(), KernReturn>) -> i32 {
        e.unwrap_err().raw()
    }

    #[test]
    fn copy_reply_decoding() {
        // Success: 36 bytes, id 4907, RetCode 0.
        assert_eq!(vm_copy_reply(&reply(4907, 36, 0x12, 0)), Ok(()));
        // The routine's error comes back as RetCode.
        assert_eq!(raw(vm_copy_reply(&reply(4907, 36, 0x12, 2))), 2);
        assert_eq!(raw(vm_copy_reply(&reply(4907, 36, 0x12, 1))), 1);
        // Wrong id: mismatch; a send-once notification: server died.
        assert_eq!(raw(vm_copy_reply(&reply(4807, 36, 0x12, 0))), -301);
        assert_eq!(raw(vm_copy_reply(&reply(71, 24, 0x12, 0))), -308);
        // Complex or wrong size: type error.
        assert_eq!(raw(vm_copy_reply(&reply(4907, 36, 0x8000_0012, 0))), -300);
        assert_eq!(raw(vm_copy_reply(&reply(4907, 40, 0x12, 0))), -300);
        assert_eq!(raw(vm_copy_reply(&reply(4907, 24, 0x12, 5))), -300);
    }

    #[test]
    fn remap_reply_decoding() {
        let mut ok = reply(4913, 52, 0x12, 0);
        ok.reply.target_address = 0x3_0000_0000;
        ok.reply.cur_protection = 3;
        ok.reply.max_protection = 7;
        let b = bytes(&ok);
        assert_eq!(u64_at(&b, 36), 0x3_0000_0000, "target_address at 36");
        assert_eq!(u32_at(&b, 44), 3, "cur_protection at 44");
        assert_eq!(u32_at(&b, 48), 7, "max_protection at 48");
        assert_eq!(
            vm_remap_reply(&ok),
            Ok(Remapped {
                address: 0x3_0000_0000,
                cur_protection: 3,
                max_protection: 7
            })
        );
        // A mig_reply_error_t (36 bytes) with an error is that error.
        let e = vm_remap_reply(&reply(4913, 36, 0x12, 3));
        assert_eq!(e.unwrap_err().raw(), 3);
        // ... but with RetCode 0 it is malformed.
        let e = vm_remap_reply(&reply(4913, 36, 0x12, 0));
        assert_eq!(e.unwrap_err().raw(), -300);
        // A full-size reply with an error is still the error.
        let e = vm_remap_reply(&reply(4913, 52, 0x12, 4));
        assert_eq!(e.unwrap_err().raw(), 4);
        assert_eq!(
            vm_remap_reply(&reply(4907, 52, 0x12, 0)).unwrap_err().raw(),
            -301
        );
        assert_eq!(
            vm_remap_reply(&reply(4913, 52, 0x8000_0012, 0))
                .unwrap_err()
                .raw(),
            -300
        );
    }

    #[test]
    fn msg2_argument_packing() {
        let r = vm_copy_request(TASK, REPLY, 1, 2, 3);
        let a = msg2_args(0x1000, &r.head, 0, 60, Msg2Op::SendReceive);
        assert_eq!(a.data, 0x1000);
        assert_eq!(a.options, 0x2_0000_0003, "SEND | RCV | KOBJECT_CALL");
        assert_eq!(a.options & 0xF << 33, 1 << 33, "exactly one CFI bit");
        assert_eq!(a.bits_and_send_size, (56 << 32) | 0x1513);
        assert_eq!(
            a.remote_and_local,
            (u64::from(REPLY) << 32) | u64::from(TASK)
        );
        assert_eq!(a.voucher_and_id, 4807 << 32);
        assert_eq!(a.desc_count_and_rcv_name, u64::from(REPLY) << 32);
        assert_eq!(a.rcv_size_and_priority, 60);
        assert_eq!(a.timeout, 0);
        let q = vm_remap_request(
            TASK,
            REPLY,
            &Remap {
                target_address: 0,
                size: 0,
                mask: 0,
                flags: 0,
                src_task: TASK,
                src_address: 0,
                copy: true,
                inheritance: 1,
            },
        );
        let a = msg2_args(8, &q.head, 1, 60, Msg2Op::SendReceive);
        assert_eq!(a.bits_and_send_size, (92 << 32) | 0x8000_1513);
        assert_eq!(a.desc_count_and_rcv_name, (u64::from(REPLY) << 32) | 1);
        assert_eq!(a.voucher_and_id, 4813 << 32);
        // Receive only: no send half, no CFI bit, same reply port.
        let a = msg2_args(8, &q.head, 1, 60, Msg2Op::Receive);
        assert_eq!(a.options, 2);
        assert_eq!(
            [a.bits_and_send_size, a.remote_and_local, a.voucher_and_id],
            [0; 3]
        );
        assert_eq!(a.desc_count_and_rcv_name, u64::from(REPLY) << 32);
        assert_eq!(a.rcv_size_and_priority, 60);
    }

    #[test]
    fn msg2_results() {
        assert_eq!(after_msg2(0), After::Done);
        // Only the low 32 bits are the mach_msg_return_t.
        assert_eq!(after_msg2(0xFFFF_FFFF_0000_0000), After::Done);
        assert_eq!(after_msg2(0x1000_0007), After::Resend);
        assert_eq!(after_msg2(0x1000_4005), After::Receive);
        assert_eq!(
            after_msg2(0x1000_0003),
            After::Fail(KernReturn::from_raw(0x1000_0003))
        );
        assert_eq!(
            after_msg2(0x1000_0013),
            After::Fail(KernReturn::from_raw(m::SEND_INVALID_OPTIONS))
        );
        // KERN_NOT_SUPPORTED, what a refused legacy call gets.
        assert_eq!(after_msg2(46), After::Fail(KernReturn::from_raw(46)));
    }

    #[test]
    fn buffer_holds_every_message() {
        let mut buf = empty_buffer();
        buf.remap = vm_remap_request(
            TASK,
            REPLY,
            &Remap {
                target_address: 9,
                size: 9,
                mask: 0,
                flags: 0,
                src_task: TASK,
                src_address: 9,
                copy: true,
                inheritance: 1,
            },
        );
        // SAFETY: every variant is plain data over the same zeroed bytes.
        let b = unsafe { buf.bytes };
        assert_eq!(u32_at(&b, 20), 4813);
        assert_eq!(&b[92..], &[0, 0, 0, 0], "tail stays zero");
        // The receive size MIG passes: largest reply + trailer.
        assert_eq!(size_of::<ReplyBuffer>(), 52 + 8);
    }
}
