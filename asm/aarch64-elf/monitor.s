// The monitor phase of the Wasm wait queue (src/wasm/atomics.rs, module
// `monitor`), aarch64 ELF: a waiter that is already queued watches its own
// node's state word and returns as soon as a notifier stores a final state
// (DONE = 2 or CANCELLED = 3), or once CNTVCT_EL0 reaches a deadline,
// without a system call.
//
// Why assembly: the wait is the monitor idiom (`ldaxr` arms the local
// exclusive monitor on the word; the notifier's store to it clears the
// monitor, which is an event that ends `wfe`), and it only works if
// nothing that could clear the monitor or the event register runs between
// the `ldaxr` and the `wfe`: a compiler must not place spills or calls
// there. Leaf routines: LR is never spilled, so no PAC pair; each starts
// with `bti c`. Included by src/wasm/atomics.rs with
// global_asm!(include_str!(..), options(raw)).
//
// Which routine (chosen once per process by the caller):
// * wrt_monitor_wfet: FEAT_WFxT (Linux HWCAP2_WFXT; bare metal
//   ID_AA64ISAR2_EL1.WFxT): `wfet` also ends at the deadline itself.
// * wrt_monitor_wfe: no WFxT, but the generic timer's event stream is on
//   (Linux HWCAP_EVTSTRM, a 10 kHz stream: one event every 100 us; bare
//   metal turns it on at most 100 us). A `wfe` with no other event ends at
//   the next tick of the stream, so the phase overshoots its deadline by at
//   most one period (100 us).
// * wrt_monitor_poll: neither: the same loop with `yield` instead of `wfe`,
//   so it never sleeps past the deadline.
//
// All three: `*state` is read with load-acquire (a final state seen here
// happens-after the notifier's store-release of it), the exclusive monitor
// is cleared (`clrex`) before returning, and the condition flags are
// clobbered.

    .arch_extension wfxt
    .text

// uint32_t wrt_monitor_wfe(const uint32_t *state, uint64_t deadline)
//   in:  x0 = state word (4-byte aligned), x1 = deadline (CNTVCT_EL0 value)
//   out: w0 = the last value read: >= 2 if final, else the deadline passed
//   clobbers: x2, x3, flags, the event register, the exclusive monitor
    .globl  wrt_monitor_wfe
    .hidden wrt_monitor_wfe
    .type   wrt_monitor_wfe, %function
    .p2align 2
wrt_monitor_wfe:
    bti     c
    sevl                        // set the local event register ...
    wfe                         // ... and consume it: the next wfe can sleep
1:  ldaxr   w2, [x0]            // arm the monitor on the state word (acquire)
    cmp     w2, #2
    b.hs    2f                  // DONE or CANCELLED: woken
    mrs     x3, cntvct_el0
    cmp     x3, x1
    b.hs    2f                  // deadline passed
    wfe                         // sleep: the notifier's store, sev, irq or the stream wakes
    b       1b
2:  clrex
    mov     w0, w2
    ret
    .size   wrt_monitor_wfe, . - wrt_monitor_wfe

// uint32_t wrt_monitor_wfet(const uint32_t *state, uint64_t deadline)
//   as wrt_monitor_wfe, but the sleep is `wfet x1`, which also ends when
//   CNTVCT_EL0 >= deadline. Only on cores with FEAT_WFxT (else UNDEFINED).
//   clobbers: x2, x3, flags, the event register, the exclusive monitor
    .globl  wrt_monitor_wfet
    .hidden wrt_monitor_wfet
    .type   wrt_monitor_wfet, %function
    .p2align 2
wrt_monitor_wfet:
    bti     c
    sevl
    wfe
1:  ldaxr   w2, [x0]
    cmp     w2, #2
    b.hs    2f
    mrs     x3, cntvct_el0
    cmp     x3, x1
    b.hs    2f
    wfet    x1                  // sleep until an event or CNTVCT_EL0 >= x1
    b       1b
2:  clrex
    mov     w0, w2
    ret
    .size   wrt_monitor_wfet, . - wrt_monitor_wfet

// uint32_t wrt_monitor_poll(const uint32_t *state, uint64_t deadline)
//   as wrt_monitor_wfe without sleeping: `ldar`, compare, `yield`, for
//   cores with neither FEAT_WFxT nor an event stream.
//   clobbers: x2, x3, flags
    .globl  wrt_monitor_poll
    .hidden wrt_monitor_poll
    .type   wrt_monitor_poll, %function
    .p2align 2
wrt_monitor_poll:
    bti     c
1:  ldar    w2, [x0]
    cmp     w2, #2
    b.hs    2f
    mrs     x3, cntvct_el0
    cmp     x3, x1
    b.hs    2f
    yield
    b       1b
2:  mov     w0, w2
    ret
    .size   wrt_monitor_poll, . - wrt_monitor_poll
