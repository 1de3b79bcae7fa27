//! Trap benchmarks (issue 16), x86_64 Linux only, peers in the same run:
//! * enter + return of an empty function: `wrt_call` vs glibc's `setjmp`
//!   (`_setjmp`, no mask) and `sigsetjmp(buf, 1)` (`__sigsetjmp`, which
//!   saves the signal mask with an `rt_sigprocmask` system call), each
//!   followed by the call of the same empty function;
//! * trap delivery: a store to a memory's inaccessible part inside
//!   `wrt_call` until `wrt_call` has returned `WRT_TRAP_OUT_OF_BOUNDS`, vs
//!   the way wasm2c's runtime does it: a `sigaction` handler
//!   (`SA_SIGINFO | SA_ONSTACK`) that `siglongjmp`s to a
//!   `sigsetjmp(buf, 1)`, the same store at the same address.
//!
//! The peers' jump targets are in assembly (below): a function that returns
//! twice cannot be called soundly from Rust, so the code around
//! `__sigsetjmp` is written the way a C compiler emits it, with the values
//! live across the call in callee-saved registers (which `longjmp`
//! restores). The peer handler is installed only while the peer is
//! measured; the helper's action is saved and put back with raw
//! `rt_sigaction` (the same kernel struct, restorer included).
//!
//! Run: `cargo bench --bench trap --features capi`. Ratios go in README.md.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux {
    use std::hint::black_box;
    use std::ptr;

    use criterion::Criterion;
    use wrt_platform::capi::{
        WRT_TRAP_OUT_OF_BOUNDS, wrt_call, wrt_memory_base, wrt_memory_create, wrt_memory_t,
        wrt_thread_init, wrt_trap_info, wrt_trap_init,
    };

    /// glibc's `sigjmp_buf` is 200 bytes; room to spare, 16-aligned.
    #[repr(C, align(16))]
    struct JmpBuf([u64; 40]);

    /// The buffer the peer handler jumps to.
    struct PeerBuf(std::cell::UnsafeCell<JmpBuf>);

    // SAFETY: one thread runs the benches; only it and its own signal
    // handler touch the buffer (through glibc's setjmp functions).
    unsafe impl Sync for PeerBuf {}

    static PEER_BUF: PeerBuf = PeerBuf(std::cell::UnsafeCell::new(JmpBuf([0; 40])));

    core::arch::global_asm!(
        r#"
        .text
        // int peer_setjmp_call(void (*fn)(void *), void *ctx, void *buf)
        //   _setjmp(buf); if it returned 0: fn(ctx); returns what _setjmp
        //   returned (0, or the longjmp value).
        // in: rdi fn, rsi ctx, rdx buf. rbx = fn, r12 = ctx (callee-saved,
        // so a longjmp restores them). out: eax. clobbers: the caller-saved
        // registers (calls).
        .globl peer_setjmp_call
        .type peer_setjmp_call, @function
        peer_setjmp_call:
            push rbx
            push r12
            push r13
            mov rbx, rdi
            mov r12, rsi
            mov rdi, rdx
            call _setjmp@PLT
            test eax, eax
            jnz .Lsj_done
            mov rdi, r12
            call rbx
            xor eax, eax
        .Lsj_done:
            pop r13
            pop r12
            pop rbx
            ret
        .size peer_setjmp_call, . - peer_setjmp_call

        // int peer_sigsetjmp_call(void (*fn)(void *), void *ctx, void *buf)
        //   sigsetjmp(buf, 1) (glibc: __sigsetjmp(buf, 1)); if it returned
        //   0: fn(ctx); returns what it returned (0, or the siglongjmp
        //   value). Register map and clobbers as peer_setjmp_call.
        .globl peer_sigsetjmp_call
        .type peer_sigsetjmp_call, @function
        peer_sigsetjmp_call:
            push rbx
            push r12
            push r13
            mov rbx, rdi
            mov r12, rsi
            mov rdi, rdx
            mov esi, 1
            call __sigsetjmp@PLT
            test eax, eax
            jnz .Lssj_done
            mov rdi, r12
            call rbx
            xor eax, eax
        .Lssj_done:
            pop r13
            pop r12
            pop rbx
            ret
        .size peer_sigsetjmp_call, . - peer_sigsetjmp_call

        // int bare_call(void (*fn)(void *), void *ctx)
        //   saves the callee-saved registers and its stack pointer (in
        //   bare_sp), calls fn(ctx) and returns 0; bare_resume returns 2
        //   from it instead.
        // in: rdi fn, rsi ctx. out: eax. clobbers: the caller-saved
        // registers (a call).
        .globl bare_call
        .type bare_call, @function
        bare_call:
            push rbp
            push rbx
            push r12
            push r13
            push r14
            push r15
            sub rsp, 8
            mov [rip + bare_sp], rsp
            mov rax, rdi
            mov rdi, rsi
            call rax
            xor eax, eax
        .Lbare_out:
            add rsp, 8
            pop r15
            pop r14
            pop r13
            pop r12
            pop rbx
            pop rbp
            ret
        .size bare_call, . - bare_call

        // bare_resume: not called; a bare handler resumes bare_call here.
        // in: nothing (rsp is reloaded from bare_sp). out: bare_call
        // returns 2. clobbers: rsp, eax.
        .globl bare_resume
        .type bare_resume, @function
        bare_resume:
            mov rsp, [rip + bare_sp]
            mov eax, 2
            jmp .Lbare_out
        .size bare_resume, . - bare_resume

        // void bare_jump_handler(int sig, siginfo_t *info, void *uc)
        //   a SA_SIGINFO | SA_NODEFER handler that jumps to bare_resume:
        //   no classification, no mask or FP restore (SA_NODEFER and an
        //   empty sa_mask leave the mask as it was).
        // in: edi, rsi, rdx (unused). out: never returns. clobbers: all.
        .globl bare_jump_handler
        .type bare_jump_handler, @function
        bare_jump_handler:
            jmp bare_resume
        .size bare_jump_handler, . - bare_jump_handler

        .bss
        .p2align 3
        bare_sp: .quad 0
        .text
        "#
    );

    unsafe extern "C" {
        /// `_setjmp(buf)`, then `fn(ctx)` when it returned 0 (asm above).
        fn peer_setjmp_call(
            f: unsafe extern "C" fn(*mut core::ffi::c_void),
            ctx: *mut core::ffi::c_void,
            buf: *mut JmpBuf,
        ) -> i32;
        /// `sigsetjmp(buf, 1)`, then `fn(ctx)` when it returned 0 (asm
        /// above).
        fn peer_sigsetjmp_call(
            f: unsafe extern "C" fn(*mut core::ffi::c_void),
            ctx: *mut core::ffi::c_void,
            buf: *mut JmpBuf,
        ) -> i32;
        /// Runs `fn(ctx)` and returns 0, or 2 when resumed at
        /// `bare_resume` (asm above).
        fn bare_call(
            f: unsafe extern "C" fn(*mut core::ffi::c_void),
            ctx: *mut core::ffi::c_void,
        ) -> i32;
        /// Where the bare handlers resume `bare_call`; only its address is
        /// used.
        fn bare_resume();
        /// The bare handler that jumps to `bare_resume` (asm above).
        fn bare_jump_handler();
        /// glibc's `siglongjmp`.
        fn siglongjmp(buf: *mut JmpBuf, val: i32) -> !;
    }

    /// The function every call runs: does nothing.
    unsafe extern "C" fn empty(_ctx: *mut core::ffi::c_void) {}

    /// Stores one byte at `ctx` (an inaccessible address: faults).
    unsafe extern "C" fn store(ctx: *mut core::ffi::c_void) {
        // SAFETY: faults by design; the store is the point of the bench.
        unsafe { ptr::write_volatile(ctx.cast::<u8>(), 1) };
    }

    /// The wasm2c-style handler: back to the `sigsetjmp(buf, 1)`, which
    /// restores the mask saved there (SIGSEGV unblocked). A plain frame
    /// with nothing to drop.
    extern "C" fn peer_handler(_sig: i32, _info: *mut libc::siginfo_t, _uc: *mut libc::c_void) {
        // SAFETY: PEER_BUF was filled by the peer_sigsetjmp_call this
        // thread is inside (only the peer store faults while installed).
        unsafe { siglongjmp(PEER_BUF.0.get(), 2) }
    }

    /// The bare handler that rewrites the interrupted RIP to `bare_resume`
    /// and returns through glibc's restorer (`rt_sigreturn`).
    extern "C" fn bare_sigreturn_handler(
        _sig: i32,
        _info: *mut libc::siginfo_t,
        uc: *mut libc::c_void,
    ) {
        // `ucontext_t.uc_mcontext.gregs[REG_RIP]`.
        let rip = uc.cast::<u8>().wrapping_add(40 + 8 * 16).cast::<usize>();
        // SAFETY: the kernel's ucontext of this signal; rt_sigreturn loads
        // the rewritten RIP.
        unsafe { rip.write(bare_resume as *const () as usize) };
    }

    /// Installs `handler` for SIGSEGV with `SA_SIGINFO | SA_ONSTACK |
    /// SA_NODEFER` (the helper's flags) and an empty mask.
    fn install_bare(handler: usize) {
        // SAFETY: an all-zero sigaction is valid.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = handler;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK | libc::SA_NODEFER;
        // SAFETY: a valid sigset.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        // SAFETY: glibc's sigaction with a valid struct.
        let r = unsafe { libc::sigaction(libc::SIGSEGV, &act, ptr::null_mut()) };
        assert_eq!(r, 0);
    }

    /// The kernel's `struct sigaction`: handler, flags, restorer, mask.
    #[repr(C)]
    #[derive(Copy, Clone)]
    struct KSigaction([u64; 4]);

    fn raw_sigaction(sig: i32, new: *const KSigaction, old: *mut KSigaction) {
        // SAFETY: rt_sigaction with valid (or null) pointers and the
        // kernel's sigset size.
        let r = unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, new, old, 8usize) };
        assert_eq!(r, 0, "rt_sigaction");
    }

    /// Installs the peer handler for SIGSEGV, returns the helper's action
    /// (put back with the raw call: glibc's `sigaction` would replace the
    /// helper's restorer with its own).
    fn install_peer() -> KSigaction {
        let mut ours = KSigaction([0; 4]);
        raw_sigaction(libc::SIGSEGV, ptr::null(), &mut ours);
        // SAFETY: an all-zero sigaction is valid.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = peer_handler as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: a valid sigset.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        // SAFETY: glibc's sigaction with a valid struct.
        let r = unsafe { libc::sigaction(libc::SIGSEGV, &act, ptr::null_mut()) };
        assert_eq!(r, 0);
        ours
    }

    /// A memory with one accessible page; returns the first address past it
    /// (inaccessible, inside the reservation).
    fn past_end() -> usize {
        let mut m: wrt_memory_t = 0;
        // SAFETY: valid out pointer.
        assert_eq!(unsafe { wrt_memory_create(1, 2, 0, &mut m) }, 0);
        wrt_memory_base(m) as usize + 65536
    }

    fn setup() {
        assert_eq!(wrt_trap_init(), 0);
        assert_eq!(wrt_thread_init(), 0);
    }

    pub fn enter_return(c: &mut Criterion) {
        setup();
        let mut g = c.benchmark_group("enter_return_empty_fn");
        g.bench_function("wrt_call", |b| {
            b.iter(|| {
                // SAFETY: a valid function; null info.
                black_box(unsafe { wrt_call(Some(empty), ptr::null_mut(), ptr::null_mut()) })
            })
        });
        let mut buf = JmpBuf([0; 40]);
        g.bench_function("setjmp", |b| {
            b.iter(|| {
                // SAFETY: valid function and buffer; nothing longjmps.
                black_box(unsafe { peer_setjmp_call(empty, ptr::null_mut(), &mut buf) })
            })
        });
        g.bench_function("sigsetjmp_savemask", |b| {
            b.iter(|| {
                // SAFETY: as above.
                black_box(unsafe { peer_sigsetjmp_call(empty, ptr::null_mut(), &mut buf) })
            })
        });
        g.finish();
    }

    pub fn trap_delivery(c: &mut Criterion) {
        setup();
        let addr = past_end() as *mut core::ffi::c_void;
        let mut g = c.benchmark_group("trap_delivery_guard_store");
        g.bench_function("wrt_call", |b| {
            let mut info = std::mem::MaybeUninit::<wrt_trap_info>::uninit();
            b.iter(|| {
                // SAFETY: `store` faults in the memory's inaccessible part:
                // a trap that ends the call.
                let r = unsafe { wrt_call(Some(store), addr, info.as_mut_ptr()) };
                assert_eq!(r, WRT_TRAP_OUT_OF_BOUNDS);
            })
        });
        let ours = install_peer();
        g.bench_function("sigaction_siglongjmp", |b| {
            b.iter(|| {
                // SAFETY: the store faults, the peer handler jumps back to
                // the sigsetjmp of this call.
                let r = unsafe { peer_sigsetjmp_call(store, addr, PEER_BUF.0.get()) };
                assert_eq!(r, 2);
            })
        });
        for (name, handler) in [
            (
                "bare_handler_rt_sigreturn",
                bare_sigreturn_handler as *const () as usize,
            ),
            ("bare_handler_jump", bare_jump_handler as *const () as usize),
        ] {
            install_bare(handler);
            g.bench_function(name, |b| {
                b.iter(|| {
                    // SAFETY: the store faults; the bare handler resumes
                    // this bare_call at bare_resume.
                    let r = unsafe { bare_call(store, addr) };
                    assert_eq!(r, 2);
                })
            });
        }
        raw_sigaction(libc::SIGSEGV, &ours, ptr::null_mut());
        g.finish();
        // The helper's handler is back: a trap is caught again.
        // SAFETY: as in the wrt_call bench.
        let r = unsafe { wrt_call(Some(store), addr, ptr::null_mut()) };
        assert_eq!(r, WRT_TRAP_OUT_OF_BOUNDS);
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion::criterion_group! {
    name = benches;
    config = criterion::Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = linux::enter_return, linux::trap_delivery
}
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion::criterion_main!(benches);

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {}
