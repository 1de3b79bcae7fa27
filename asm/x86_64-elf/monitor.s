// The monitor phase of the Wasm wait queue (src/wasm/atomics.rs, module
// `monitor`), x86_64 ELF (System V), for CPUs with WAITPKG: a waiter that is
// already queued watches its own node's state word with `umonitor`/`umwait`
// and returns as soon as a notifier stores a final state (DONE = 2 or
// CANCELLED = 3), or once the TSC reaches a deadline, without a system call.
//
// Why assembly: `umonitor`/`umwait` need the `waitpkg` target feature
// (their intrinsics are unstable), and the armed address range must not be
// disturbed between `umonitor` and `umwait`. Without WAITPKG (CPUID.7.0:ECX
// bit 5, probed by the caller) the queue runs a `pause` loop in Rust
// instead, and this routine is never called.
// Included by src/wasm/atomics.rs with global_asm!(include_str!(..),
// options(raw)); rustc assembles it in Intel syntax.

    .text

// uint32_t wrt_monitor_umwait(const uint32_t *state, uint64_t deadline)
//   in:  rdi = state word (4-byte aligned), rsi = deadline (a TSC value)
//   out: eax = the last value read: >= 2 if final, else the deadline passed
//   clobbers: rcx, rdx, r8, flags
// `umwait` ends on a write to the monitored line, an interrupt, the
// deadline in edx:eax, or the OS's limit (IA32_UMWAIT_CONTROL; Linux: 100k
// TSC cycles); the loop re-arms and re-checks after each. Control 1 asks
// for C0.1, the lighter state with the faster wake-up. Loads on x86 are
// acquire loads.
    .globl  wrt_monitor_umwait
    .hidden wrt_monitor_umwait
    .type   wrt_monitor_umwait, @function
    .p2align 4
wrt_monitor_umwait:
1:  umonitor rdi                // arm the monitor on the state word's line
    mov     r8d, dword ptr [rdi]
    cmp     r8d, 2
    jae     2f                  // DONE or CANCELLED: woken
    mov     eax, esi            // edx:eax = deadline
    mov     rdx, rsi
    shr     rdx, 32
    mov     ecx, 1              // C0.1
    umwait  ecx                 // sleep until a write to the line or the deadline
    rdtsc
    shl     rdx, 32
    or      rax, rdx
    cmp     rax, rsi
    jb      1b                  // before the deadline: re-arm, re-check
    mov     r8d, dword ptr [rdi]
2:  mov     eax, r8d
    ret
    .size   wrt_monitor_umwait, . - wrt_monitor_umwait
