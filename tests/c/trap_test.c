/*
 * A real C client of libwrt_helper.a: traps (wrt_trap_init, wrt_call,
 * wrt_trap_raise, wrt_thread_init/fini), from C, against
 * include/wrt_helper.h. The functions run under wrt_call play the part of
 * AOT-compiled Wasm code: plain loads and stores at base + offset, with no
 * bounds checks. Built six ways by scripts/c-tests, like memory_test.c.
 *
 * Every build: out-of-bounds loads/stores (just past the size, straddling
 * the end, at the farthest guard address), grow/reset moving the boundary,
 * nested calls, wrt_trap_raise from deep recursion, stack overflow then
 * the thread keeps working, callee-saved registers (x86_64: rbx, rbp,
 * r12-r15; aarch64: x19-x29, d8-d15) restored after a trap, the signal mask
 * kept, 100 000 traps leaking nothing (mask, alternate stack, mappings
 * where /proc is readable), integer division traps (x86_64), an MTE
 * wrong-tag access (aarch64, when the CPU has MTE: qemu -cpu max).
 * libc builds add: a fault that is not a trap reaches the handler the test
 * installed first, inside and outside wrt_call; with no handler a child
 * dies of SIGSEGV (fork); threads (a trap in one thread does not disturb a
 * wait or a wrt_call in another; two threads trapping at once).
 *
 * Prints "c-trap-test: N passed, M failed" and exits with M != 0.
 */
#ifndef WRT_NOLIBC
#define _GNU_SOURCE
#endif
#include "wrt_helper.h"

#ifndef WRT_NOLIBC
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#endif
#include "runtime.h"

#define PAGE 65536ull
#define GIB (1ull << 30)

/* ---- raw system calls (both builds) ---- */
static long raw6(long nr, long a, long b, long c, long d, long e, long f) {
#if defined(__x86_64__)
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
#else
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
    return x0;
#endif
}
#if defined(__x86_64__)
enum { SYS_SIGACTION = 13, SYS_SIGPROCMASK = 14, SYS_SIGALTSTACK = 131, SYS_MPROTECT = 10, SYS_PRCTL = 157,
       SYS_OPENAT = 257, SYS_READ = 0, SYS_CLOSE = 3 };
#else
enum { SYS_SIGACTION = 134, SYS_SIGPROCMASK = 135, SYS_SIGALTSTACK = 132, SYS_MPROTECT = 226, SYS_PRCTL = 167,
       SYS_OPENAT = 56, SYS_READ = 63, SYS_CLOSE = 57 };
#endif
enum { SIG_SEGV = 11, SIG_BUS = 7, SIG_FPE = 8, SIG_USR1 = 10 };

static uint64_t current_mask(void) {
    uint64_t old = 0;
    raw6(SYS_SIGPROCMASK, 0 /* SIG_BLOCK */, 0, (long)&old, 8, 0, 0);
    return old;
}
static void set_mask(uint64_t m) { raw6(SYS_SIGPROCMASK, 2 /* SIG_SETMASK */, (long)&m, 0, 8, 0, 0); }

struct kstack { void *sp; int flags; size_t size; };
static struct kstack current_altstack(void) {
    struct kstack s = {0, 0, 0};
    raw6(SYS_SIGALTSTACK, 0, (long)&s, 0, 0, 0, 0);
    return s;
}
static long set_altstack(struct kstack s) { return raw6(SYS_SIGALTSTACK, (long)&s, 0, 0, 0, 0, 0); }

/* An alternate stack the kernel disarms while a handler runs on it. */
#define SS_AUTODISARM_FLAG (1 << 31)
static _Alignas(16) uint8_t autodisarm_stack[128 * 1024];

/* Lines of /proc/self/maps (mappings), or -1 when /proc is not readable. */
static long mapping_count(void) {
    static char buf[1 << 16];
    long fd = raw6(SYS_OPENAT, -100 /* AT_FDCWD */, (long)"/proc/self/maps", 0, 0, 0, 0);
    if (fd < 0) return -1;
    long lines = 0, n;
    while ((n = raw6(SYS_READ, fd, (long)buf, sizeof buf, 0, 0, 0)) > 0)
        for (long i = 0; i < n; i++) lines += buf[i] == '\n';
    raw6(SYS_CLOSE, fd, 0, 0, 0, 0, 0);
    return lines;
}

/* ---- "generated code" ---- */
struct access {
    volatile uint8_t *p;
    int write;
    int width; /* 1 or 8 */
    uint64_t value;
};

static void do_access(void *ctx) {
    struct access *a = ctx;
    if (a->write) {
        if (a->width == 1) *a->p = (uint8_t)a->value;
        else *(volatile uint64_t *)a->p = a->value;
    } else {
        if (a->width == 1) a->value = *a->p;
        else a->value = *(volatile uint64_t *)a->p;
    }
}

/* Runs one access under wrt_call; returns wrt_call's result, fills *info. */
static int32_t access_at(uint8_t *base, uint64_t offset, int write, int width, wrt_trap_info *info) {
    struct access a = {base + offset, write, width, 0x5a};
    return wrt_call(do_access, &a, info);
}

static int oob(uint8_t *base, wrt_memory_t m, uint64_t offset, int write, int width) {
    wrt_trap_info info = {0, 0, 0, 0, 0, 0};
    int32_t r = access_at(base, offset, write, width, &info);
    return r == WRT_TRAP_OUT_OF_BOUNDS && info.code == WRT_TRAP_OUT_OF_BOUNDS && info.memory == m &&
           (info.signal == SIG_SEGV || info.signal == SIG_BUS) && info.pc != 0 &&
           info.offset >= offset && info.offset < offset + 8 && info.address == (uint64_t)(uintptr_t)base + info.offset;
}

static int in_bounds(uint8_t *base, uint64_t offset, int write, int width) {
    wrt_trap_info info = {0, 0, 0, 0, 0, 0};
    return access_at(base, offset, write, width, &info) == WRT_OK && info.code == 0;
}

static volatile long recursion_limit = -1;

/* Recursion `depth` deep, then raise `code`. */
struct deep { int depth; int32_t code; };
static volatile int sink;
static void raise_deep(struct deep *d, int level) {
    volatile char pad[64];
    pad[0] = (char)level;
    if (level >= d->depth) wrt_trap_raise(d->code);
    if (level == recursion_limit) return; /* never: keeps the compiler from calling it infinite */
    raise_deep(d, level + 1);
    sink += pad[0];
}
static void raise_fn(void *ctx) { raise_deep(ctx, 0); }

/* Unbounded recursion (bounded only by a limit nobody sets). */
static long recurse(volatile char *prev, long depth) {
    volatile char frame[512];
    frame[0] = prev ? (char)(prev[0] + 1) : 0;
    if (depth == recursion_limit) return frame[0];
    long r = recurse(frame, depth + 1);
    return r + frame[1];
}
static void overflow_fn(void *ctx) { (void)ctx; sink += (int)recurse(0, 0); }

static void nothing(void *ctx) { (void)ctx; }

/* Nested: outer runs inner (which traps), checks its code, then returns. */
struct nest { uint8_t *base; uint64_t size; int32_t inner_result; int32_t inner2; wrt_trap_info info; };
static void inner_oob(void *ctx) {
    struct nest *n = ctx;
    n->info.code = 0;
    sink += *(volatile uint8_t *)(n->base + n->size);
}
static void inner_raise(void *ctx) { (void)ctx; wrt_trap_raise(WRT_TRAP_UNREACHABLE); }
static void outer(void *ctx) {
    struct nest *n = ctx;
    n->inner_result = wrt_call(inner_oob, n, &n->info);
    n->inner2 = wrt_call(inner_raise, 0, 0);
}

/* The signal mask at a trap is the one at wrt_call. */
static void unblock_and_trap(void *ctx) {
    struct access *a = ctx;
    sink += *a->p;
}

#if defined(__x86_64__)
/* int32_t divide(int64_t a, int64_t b, int form): `idiv` in several encodings. */
struct division { int64_t a, b; int form; };
static void divide(void *ctx) {
    struct division *d = ctx;
    switch (d->form) {
    case 0: { /* idivl r32 */
        int32_t lo = (int32_t)d->a, divisor = (int32_t)d->b;
        __asm__ volatile("cltd\n\tidivl %1" : "+a"(lo) : "r"(divisor) : "edx", "cc");
        sink += lo;
        break;
    }
    case 1: { /* idivq m64 */
        int64_t lo = d->a;
        __asm__ volatile("cqto\n\tidivq %1" : "+a"(lo) : "m"(d->b) : "rdx", "cc");
        sink += (int)lo;
        break;
    }
    default: { /* idivq r64 with a REX.B register */
        int64_t lo = d->a;
        register int64_t r11 __asm__("r11") = d->b;
        __asm__ volatile("cqto\n\tidivq %1" : "+a"(lo) : "r"(r11) : "rdx", "cc");
        sink += (int)lo;
    }
    }
}

/* MXCSR and the x87 control word: callee-saved control state. */
static uint32_t get_mxcsr(void) {
    uint32_t v;
    __asm__ volatile("stmxcsr %0" : "=m"(v));
    return v;
}
static void set_mxcsr(uint32_t v) { __asm__ volatile("ldmxcsr %0" : : "m"(v)); }
static uint16_t get_fcw(void) {
    uint16_t v;
    __asm__ volatile("fnstcw %0" : "=m"(v));
    return v;
}
static void set_fcw(uint16_t v) { __asm__ volatile("fldcw %0" : : "m"(v)); }
#endif

/* ---- callee-saved registers across a trapping wrt_call ----
 * int32_t wrt_test_callee_saved(void (*fn)(void *), void *ctx): sets every
 * callee-saved register to a known value, calls wrt_call(fn, ctx, NULL),
 * and returns a bit mask of the registers that did not keep their value
 * (0 = all kept). `clobber_and_trap` overwrites all of them and then
 * faults, so a wrt_call that resumed without restoring them is caught. */
int32_t wrt_test_callee_saved(void (*fn)(void *), void *ctx);
void wrt_test_clobber_and_trap(void *ctx);
#if defined(__x86_64__)
__asm__(
    ".text\n.globl wrt_test_callee_saved\nwrt_test_callee_saved:\n"
    "  push %rbp\n  push %rbx\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n  sub $8, %rsp\n"
    "  mov $0x1111, %rbx\n  mov $0x2222, %rbp\n  mov $0x3333, %r12\n"
    "  mov $0x4444, %r13\n  mov $0x5555, %r14\n  mov $0x6666, %r15\n"
    "  xor %edx, %edx\n  call wrt_call\n  xor %eax, %eax\n"
    "  cmp $0x1111, %rbx\n  je 1f\n  or $1, %eax\n1:\n"
    "  cmp $0x2222, %rbp\n  je 1f\n  or $2, %eax\n1:\n"
    "  cmp $0x3333, %r12\n  je 1f\n  or $4, %eax\n1:\n"
    "  cmp $0x4444, %r13\n  je 1f\n  or $8, %eax\n1:\n"
    "  cmp $0x5555, %r14\n  je 1f\n  or $16, %eax\n1:\n"
    "  cmp $0x6666, %r15\n  je 1f\n  or $32, %eax\n1:\n"
    "  add $8, %rsp\n  pop %r15\n  pop %r14\n  pop %r13\n  pop %r12\n  pop %rbx\n  pop %rbp\n  ret\n"
    ".globl wrt_test_clobber_and_trap\nwrt_test_clobber_and_trap:\n"
    "  push %rbp\n  push %rbx\n  push %r12\n  push %r13\n  push %r14\n  push %r15\n"
    "  mov $7, %ebx\n  mov $7, %ebp\n  mov $7, %r12d\n  mov $7, %r13d\n  mov $7, %r14d\n  mov $7, %r15d\n"
    "  movb (%rdi), %al\n" /* rdi = an out-of-bounds address: traps here */
    "  ud2\n");
#else
__asm__(
    ".text\n.globl wrt_test_callee_saved\nwrt_test_callee_saved:\n"
    "  stp x29, x30, [sp, #-176]!\n  mov x29, sp\n"
    "  stp x19, x20, [sp, #16]\n  stp x21, x22, [sp, #32]\n  stp x23, x24, [sp, #48]\n"
    "  stp x25, x26, [sp, #64]\n  stp x27, x28, [sp, #80]\n"
    "  stp d8, d9, [sp, #96]\n  stp d10, d11, [sp, #112]\n  stp d12, d13, [sp, #128]\n  stp d14, d15, [sp, #144]\n"
    "  mov x19, #19\n  mov x20, #20\n  mov x21, #21\n  mov x22, #22\n  mov x23, #23\n"
    "  mov x24, #24\n  mov x25, #25\n  mov x26, #26\n  mov x27, #27\n  mov x28, #28\n"
    "  mov x9, #8\n  fmov d8, x9\n  mov x9, #9\n  fmov d9, x9\n  mov x9, #10\n  fmov d10, x9\n"
    "  mov x9, #11\n  fmov d11, x9\n  mov x9, #12\n  fmov d12, x9\n  mov x9, #13\n  fmov d13, x9\n"
    "  mov x9, #14\n  fmov d14, x9\n  mov x9, #15\n  fmov d15, x9\n"
    "  mov x2, #0\n  bl wrt_call\n"
    "  mov x0, #0\n  mov x10, #19\n"
    "  cmp x19, #19\n  b.eq 1f\n  orr x0, x0, #1\n1:\n"
    "  cmp x20, #20\n  b.eq 1f\n  orr x0, x0, #2\n1:\n"
    "  cmp x21, #21\n  b.eq 1f\n  orr x0, x0, #4\n1:\n"
    "  cmp x22, #22\n  b.eq 1f\n  orr x0, x0, #8\n1:\n"
    "  cmp x23, #23\n  b.eq 1f\n  orr x0, x0, #16\n1:\n"
    "  cmp x24, #24\n  b.eq 1f\n  orr x0, x0, #32\n1:\n"
    "  cmp x25, #25\n  b.eq 1f\n  orr x0, x0, #64\n1:\n"
    "  cmp x26, #26\n  b.eq 1f\n  orr x0, x0, #128\n1:\n"
    "  cmp x27, #27\n  b.eq 1f\n  orr x0, x0, #256\n1:\n"
    "  cmp x28, #28\n  b.eq 1f\n  orr x0, x0, #512\n1:\n"
    "  mov x9, sp\n  cmp x29, x9\n  b.eq 1f\n  orr x0, x0, #1024\n1:\n"
    "  fmov x9, d8\n  cmp x9, #8\n  b.eq 1f\n  orr x0, x0, #0x10000\n1:\n"
    "  fmov x9, d9\n  cmp x9, #9\n  b.eq 1f\n  orr x0, x0, #0x20000\n1:\n"
    "  fmov x9, d10\n  cmp x9, #10\n  b.eq 1f\n  orr x0, x0, #0x40000\n1:\n"
    "  fmov x9, d11\n  cmp x9, #11\n  b.eq 1f\n  orr x0, x0, #0x80000\n1:\n"
    "  fmov x9, d12\n  cmp x9, #12\n  b.eq 1f\n  orr x0, x0, #0x100000\n1:\n"
    "  fmov x9, d13\n  cmp x9, #13\n  b.eq 1f\n  orr x0, x0, #0x200000\n1:\n"
    "  fmov x9, d14\n  cmp x9, #14\n  b.eq 1f\n  orr x0, x0, #0x400000\n1:\n"
    "  fmov x9, d15\n  cmp x9, #15\n  b.eq 1f\n  orr x0, x0, #0x800000\n1:\n"
    "  ldp x19, x20, [sp, #16]\n  ldp x21, x22, [sp, #32]\n  ldp x23, x24, [sp, #48]\n"
    "  ldp x25, x26, [sp, #64]\n  ldp x27, x28, [sp, #80]\n"
    "  ldp d8, d9, [sp, #96]\n  ldp d10, d11, [sp, #112]\n  ldp d12, d13, [sp, #128]\n  ldp d14, d15, [sp, #144]\n"
    "  ldp x29, x30, [sp], #176\n  ret\n"
    ".globl wrt_test_clobber_and_trap\nwrt_test_clobber_and_trap:\n"
    "  stp x29, x30, [sp, #-16]!\n"
    "  mov x19, #7\n  mov x20, #7\n  mov x21, #7\n  mov x22, #7\n  mov x23, #7\n"
    "  mov x24, #7\n  mov x25, #7\n  mov x26, #7\n  mov x27, #7\n  mov x28, #7\n  mov x29, #7\n"
    "  fmov d8, x19\n  fmov d9, x19\n  fmov d10, x19\n  fmov d11, x19\n"
    "  fmov d12, x19\n  fmov d13, x19\n  fmov d14, x19\n  fmov d15, x19\n"
    "  ldrb w1, [x0]\n" /* x0 = an out-of-bounds address: traps here */
    "  udf #0\n");
#endif

#ifndef WRT_NOLIBC
/* ---- a handler installed before wrt_trap_init ---- */
static sigjmp_buf foreign_jump;
static volatile int foreign_hits;
static void foreign_handler(int sig, siginfo_t *si, void *uc) {
    (void)si;
    (void)uc;
    foreign_hits += sig == SIGSEGV;
    siglongjmp(foreign_jump, 1);
}
static void null_store_caught(void *ctx) {
    int *caught = ctx;
    if (sigsetjmp(foreign_jump, 1) == 0) {
        *(volatile int *)(uintptr_t)(sink * 0) = 1; /* NULL: the host's bug, not a trap */
    } else {
        *caught = 1;
    }
}
static void null_store(void *ctx) {
    (void)ctx;
    *(volatile int *)(uintptr_t)(sink * 0) = 1;
}

/* Forks a child that runs `body` after wrt_trap_init with no handler of its
   own; returns the signal that killed it (0 if it exited). */
static int child_killed_by(void (*body)(void)) {
    pid_t pid = fork();
    if (pid == 0) {
        dup2(open("/dev/null", O_WRONLY), 2); /* qemu-user reports the death on stderr */
        if (wrt_trap_init() != WRT_OK) _exit(2);
        body();
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}
static void null_inside_call(void) { wrt_call(null_store, 0, 0); }
static void null_outside_call(void) { null_store(0); }

/* A handler installed after wrt_trap_init that calls the helper's, as
   sanitizers and language runtimes chain to the handler they replaced.
   It runs with every signal blocked (its sa_mask), which only its own
   return through rt_sigreturn undoes. */
struct ksigaction { void *handler; unsigned long flags; void *restorer; uint64_t mask; };
static struct ksigaction helper_action;
static volatile int chained_calls;
static void chaining_handler(int sig, siginfo_t *si, void *uc) {
    chained_calls++;
    ((void (*)(int, siginfo_t *, void *))helper_action.handler)(sig, si, uc);
}

/* ---- threads ---- */
struct waiter { wrt_memory_t m; int32_t result; volatile int done; };
static void *wait_thread(void *arg) {
    struct waiter *w = arg;
    w->result = wrt_atomic_wait32(w->m, 0, 0, -1);
    w->done = 1;
    return 0;
}

struct spinner { volatile int entered, release; int32_t result; };
static void spin_fn(void *ctx) {
    struct spinner *s = ctx;
    s->entered = 1;
    while (!s->release) {
    }
}
static void *spin_thread(void *arg) {
    struct spinner *s = arg;
    s->result = wrt_call(spin_fn, s, 0);
    return 0;
}

struct trapper { uint8_t *base; uint64_t size; wrt_memory_t m; int n; int good; int32_t code; };
static void raise_code(void *ctx) { wrt_trap_raise(*(int32_t *)ctx); }
static void *trap_thread(void *arg) {
    struct trapper *t = arg;
    wrt_thread_init();
    for (int i = 0; i < t->n; i++) {
        wrt_trap_info info = {0, 0, 0, 0, 0, 0};
        int ok = access_at(t->base, t->size + (uint64_t)i, 0, 1, &info) == WRT_TRAP_OUT_OF_BOUNDS &&
                 info.memory == t->m && info.offset == t->size + (uint64_t)i;
        int32_t code = t->code;
        ok = ok && wrt_call(raise_code, &code, &info) == code && info.code == code;
        t->good += ok;
    }
    /* a stack overflow on a pthread stack (guard page below it) */
    t->good += wrt_call(overflow_fn, 0, 0) == WRT_TRAP_STACK_OVERFLOW;
    t->good += wrt_call(nothing, 0, 0) == WRT_OK;
    t->good += wrt_thread_fini() == WRT_OK;
    return 0;
}
#endif

static int run(void) {
    wrt_memory_t m = 0;
    wrt_trap_info info = {0, 0, 0, 0, 0, 0};

    /* before wrt_trap_init: refused, fn not run */
    check(wrt_call(nothing, 0, 0) == WRT_E_INVALID, "wrt_call before wrt_trap_init is WRT_E_INVALID");

#ifndef WRT_NOLIBC
    /* No handler before ours: a fault that is not a trap kills the child
       with SIGSEGV, inside or outside wrt_call. */
    check(child_killed_by(null_inside_call) == SIGSEGV, "NULL store inside wrt_call, no handler: child dies of SIGSEGV");
    check(child_killed_by(null_outside_call) == SIGSEGV, "NULL store outside wrt_call, no handler: child dies of SIGSEGV");

    struct sigaction sa;
    sa.sa_sigaction = foreign_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_SIGINFO;
    check(sigaction(SIGSEGV, &sa, 0) == 0, "install the test's own SIGSEGV handler first");
#endif

    check(wrt_trap_init() == WRT_OK, "wrt_trap_init");
    check(wrt_trap_init() == WRT_OK, "wrt_trap_init again (idempotent)");
    check(wrt_thread_init() == WRT_OK, "wrt_thread_init");
    check(wrt_thread_init() == WRT_OK, "wrt_thread_init again (idempotent)");
    check(wrt_call(0, 0, 0) == WRT_E_NULL, "wrt_call(NULL) is WRT_E_NULL");

    check(wrt_memory_create(1, 4, 0, &m) == WRT_OK, "create(1, max 4)");
    uint8_t *base = wrt_memory_base(m);

    /* out of bounds */
    check(in_bounds(base, PAGE - 1, 1, 1), "store to the last byte works");
    check(in_bounds(base, PAGE - 8, 0, 8), "8-byte load of the last 8 bytes works");
    check(oob(base, m, PAGE, 0, 1), "load just past the size traps (code, memory, offset, address)");
    check(oob(base, m, PAGE, 1, 1), "store just past the size traps");
    check(oob(base, m, PAGE - 4, 1, 8), "8-byte store straddling the end traps");
    check(oob(base, m, 3 * PAGE + 5, 0, 1), "load in the inaccessible part below the maximum traps");
    check(oob(base, m, 4 * GIB, 0, 1), "load at 4 GiB (guard) traps");
    uint64_t farthest = 8 * GIB + PAGE - 16;
    check(oob(base, m, farthest, 0, 8), "load at the farthest guard address (base + 8 GiB + 64 KiB - 16) traps");
    check(oob(base, m, farthest + 8, 1, 8), "store of the last 8 bytes of the guard traps");
    check(base[PAGE - 1] == 0x5a, "the in-bounds store landed");

    /* grow moves the boundary; reset moves it back */
    check(wrt_memory_grow(m, 1) == 1, "grow by 1");
    check(in_bounds(base, PAGE, 1, 1), "after grow the formerly faulting address works");
    check(oob(base, m, 2 * PAGE, 0, 1), "after grow the new end traps");
    check(wrt_memory_reset(m, 0) == WRT_OK, "reset");
    check(oob(base, m, PAGE, 0, 1), "after reset the address faults again");

    /* nested calls: a trap unwinds exactly one level */
    struct nest n = {base, PAGE, 0, 0, {0, 0, 0, 0, 0, 0}};
    check(wrt_call(outer, &n, &info) == WRT_OK, "outer wrt_call returns OK after its inner call trapped");
    check(n.inner_result == WRT_TRAP_OUT_OF_BOUNDS && n.info.memory == m, "inner call returned the out-of-bounds trap");
    check(n.inner2 == WRT_TRAP_UNREACHABLE, "second inner call returned the raised code");

    /* wrt_trap_raise from deep inside */
    struct deep d = {1000, WRT_TRAP_INT_OVERFLOW};
    info.code = 0;
    check(wrt_call(raise_fn, &d, &info) == WRT_TRAP_INT_OVERFLOW, "raise 1000 frames deep returns the code");
    check(info.code == WRT_TRAP_INT_OVERFLOW && info.signal == 0 && info.memory == 0 && info.pc != 0,
          "raise fills info (code, no signal, no memory, pc)");
    d.code = 0;
    check(wrt_call(raise_fn, &d, 0) == WRT_TRAP_BAD_CODE, "raise(0) is reported as WRT_TRAP_BAD_CODE");
    d.code = WRT_TRAP_USER + 44;
    check(wrt_call(raise_fn, &d, 0) == WRT_TRAP_USER + 44, "an embedder code passes through");

    /* stack overflow, then the thread keeps working */
    check(wrt_call(overflow_fn, 0, &info) == WRT_TRAP_STACK_OVERFLOW, "unbounded recursion: stack overflow");
    check(info.signal == SIG_SEGV && info.memory == 0, "stack overflow info");
    check(wrt_call(overflow_fn, 0, 0) == WRT_TRAP_STACK_OVERFLOW, "stack overflow again");
    check(oob(base, m, PAGE, 0, 1) && wrt_call(nothing, 0, 0) == WRT_OK, "the thread keeps working after overflows");

    /* callee-saved registers after a trap */
    check(wrt_test_callee_saved(wrt_test_clobber_and_trap, base + PAGE) == 0,
          "callee-saved registers are restored after a trap");

    /* the signal mask at wrt_call is the mask after the trap */
    uint64_t mask0 = current_mask();
    set_mask(mask0 | (1ull << (SIG_USR1 - 1)));
    struct access a = {base + PAGE, 0, 1, 0};
    check(wrt_call(unblock_and_trap, &a, 0) == WRT_TRAP_OUT_OF_BOUNDS, "trap with SIGUSR1 blocked");
    check(current_mask() == (mask0 | (1ull << (SIG_USR1 - 1))), "the mask is the one at wrt_call (SIGSEGV not left blocked)");
    set_mask(mask0);

#if defined(__x86_64__)
    struct division dv = {7, 0, 0};
    check(wrt_call(divide, &dv, &info) == WRT_TRAP_INT_DIVIDE_BY_ZERO && info.signal == SIG_FPE,
          "idivl by a zero register: divide by zero");
    dv = (struct division){INT32_MIN, -1, 0};
    check(wrt_call(divide, &dv, 0) == WRT_TRAP_INT_OVERFLOW, "idivl INT32_MIN / -1: overflow");
    dv = (struct division){INT64_MIN, -1, 1};
    check(wrt_call(divide, &dv, 0) == WRT_TRAP_INT_OVERFLOW, "idivq m64 INT64_MIN / -1: overflow");
    dv = (struct division){5, 0, 1};
    check(wrt_call(divide, &dv, 0) == WRT_TRAP_INT_DIVIDE_BY_ZERO, "idivq m64 by zero: divide by zero");
    dv = (struct division){INT64_MIN, -1, 2};
    check(wrt_call(divide, &dv, 0) == WRT_TRAP_INT_OVERFLOW, "idivq r11 INT64_MIN / -1: overflow");
    dv = (struct division){9, 3, 2};
    check(wrt_call(divide, &dv, 0) == WRT_OK, "a division that does not trap");

    /* The kernel resets MXCSR and the x87 control word for a signal
       handler; a trap gives wrt_call's caller the ones it had. */
    uint32_t mx0 = get_mxcsr();
    uint16_t cw0 = get_fcw();
    set_mxcsr(mx0 | 0x6000);  /* round toward zero */
    set_fcw(cw0 | 0x0c00);    /* x87: round toward zero */
    int trapped = oob(base, m, PAGE, 0, 1);
    uint32_t mx1 = get_mxcsr();
    uint16_t cw1 = get_fcw();
    set_mxcsr(mx0);
    set_fcw(cw0);
    check(trapped && (mx1 & ~0x3fu) == ((mx0 | 0x6000) & ~0x3fu) && cw1 == (cw0 | 0x0c00),
          "MXCSR and the x87 control word at wrt_call survive a trap");
#endif

#if defined(__aarch64__)
    /* MTE: a wrong-tag access to a memory whose pages carry tags. */
    long tagged = raw6(SYS_PRCTL, 55 /* PR_SET_TAGGED_ADDR_CTRL */,
                       1 /* ENABLE */ | 2 /* PR_MTE_TCF_SYNC */ | (0xfffeL << 3), 0, 0, 0, 0);
    if (tagged == 0 && raw6(SYS_MPROTECT, (long)base, PAGE, 0x3 | 0x20 /* PROT_MTE */, 0, 0, 0) == 0) {
        uint8_t *wrong = (uint8_t *)((uintptr_t)base | (3ull << 56));
        struct access t = {wrong + 16, 0, 1, 0};
        info.code = 0;
        check(wrt_call(do_access, &t, &info) == WRT_TRAP_OUT_OF_BOUNDS, "MTE wrong-tag load is out of bounds");
        check(info.memory == m && info.offset == 16 && info.signal == SIG_SEGV, "MTE trap info (memory, offset)");
        raw6(SYS_MPROTECT, (long)base, PAGE, 0x3, 0, 0, 0);
    } else {
        out("(no MTE on this CPU: MTE trap not tested)\n");
    }
#endif

    /* 100 000 traps leak nothing */
    long maps0 = mapping_count();
    struct kstack alt0 = current_altstack();
    mask0 = current_mask();
    int bad = 0;
    for (int i = 0; i < 100000; i++) {
        int32_t r = (i & 1) ? access_at(base, PAGE + (uint64_t)(i & 4095), i & 2, 1, &info)
                            : wrt_call(raise_fn, &d, 0);
        bad += r != ((i & 1) ? WRT_TRAP_OUT_OF_BOUNDS : WRT_TRAP_USER + 44);
    }
    struct kstack alt1 = current_altstack();
    check(bad == 0, "100 000 traps all reported");
    check(current_mask() == mask0, "100 000 traps: signal mask unchanged");
    check(alt1.sp == alt0.sp && alt1.size == alt0.size && alt1.flags == alt0.flags,
          "100 000 traps: alternate stack unchanged (and not left on it)");
    long maps1 = mapping_count();
    check(maps0 == maps1, "100 000 traps: no new mappings");
    check(wrt_call(outer, &n, 0) == WRT_OK && n.inner_result == WRT_TRAP_OUT_OF_BOUNDS,
          "nesting still works after 100 000 traps");

    /* SS_AUTODISARM: delivery disarms the alternate stack; after a trap
       (and a stack overflow, whose handler must run on it) it is armed. */
    struct kstack helpers = current_altstack();
    struct kstack disarming = {autodisarm_stack, SS_AUTODISARM_FLAG, sizeof autodisarm_stack};
    if (set_altstack(disarming) == 0) {
        int r1 = oob(base, m, PAGE, 0, 1);
        struct kstack armed1 = current_altstack();
        int ok1 = r1 && armed1.sp == disarming.sp && armed1.size == disarming.size && !(armed1.flags & 2);
        /* (an overflow with the stack left disarmed would kill the test) */
        int r2 = ok1 && wrt_call(overflow_fn, 0, 0) == WRT_TRAP_STACK_OVERFLOW;
        struct kstack armed2 = current_altstack();
        set_altstack(helpers);
        check(ok1, "SS_AUTODISARM alternate stack: armed again after a trap");
        check(r2 && armed2.sp == disarming.sp && !(armed2.flags & 2),
              "SS_AUTODISARM alternate stack: stack overflow caught on it, armed again after");
    } else {
        out("(SS_AUTODISARM refused here, as by qemu-user: not tested)\n");
    }

#ifndef WRT_NOLIBC
    /* foreign faults reach the test's own handler */
    int caught = 0;
    foreign_hits = 0;
    check(wrt_call(null_store_caught, &caught, 0) == WRT_OK && caught && foreign_hits == 1,
          "NULL store inside wrt_call reaches the handler installed first");
    if (sigsetjmp(foreign_jump, 1) == 0) {
        *(volatile int *)(uintptr_t)(sink * 0) = 1;
    }
    check(foreign_hits == 2, "NULL store outside wrt_call reaches the handler installed first");
    check(oob(base, m, PAGE, 0, 1), "traps still work after foreign faults");

    /* A handler installed after ours that chains to ours: the trap ends the
       call and leaves the mask of wrt_call, not the chaining handler's. */
    struct sigaction chain;
    chain.sa_sigaction = chaining_handler;
    sigfillset(&chain.sa_mask);
    chain.sa_flags = SA_SIGINFO | SA_ONSTACK;
    raw6(SYS_SIGACTION, SIGSEGV, 0, (long)&helper_action, 8, 0, 0); /* exactly, restorer included */
    check(sigaction(SIGSEGV, &chain, 0) == 0, "install a handler that chains to the helper's");
    uint64_t chain_mask0 = current_mask();
    chained_calls = 0;
    int chained_trap = oob(base, m, PAGE, 0, 1);
    uint64_t chain_mask1 = current_mask();
    set_mask(chain_mask0);
    raw6(SYS_SIGACTION, SIGSEGV, (long)&helper_action, 0, 8, 0, 0);
    check(chained_trap && chained_calls == 1, "a trap through a chaining handler ends the call");
    check(chain_mask1 == chain_mask0, "a trap through a chaining handler leaves the mask of wrt_call");
    check(oob(base, m, PAGE, 0, 1), "traps work with the helper's own handler back");

    /* threads */
    wrt_memory_t shared = 0;
    check(wrt_memory_create(1, 1, WRT_MEMORY_SHARED, &shared) == WRT_OK, "create a shared memory");
    struct waiter w = {shared, -100, 0};
    struct spinner s = {0, 0, -100};
    pthread_t wt, st;
    pthread_create(&wt, 0, wait_thread, &w);
    pthread_create(&st, 0, spin_thread, &s);
    while (!s.entered) {
    }
    for (int i = 0; i < 1000; i++) bad += !oob(base, m, PAGE, 0, 1);
    check(bad == 0, "1000 traps on the main thread");
    check(!w.done && !s.release && s.result == -100, "the waiter and the other wrt_call are undisturbed");
    s.release = 1;
    pthread_join(st, 0);
    check(s.result == WRT_OK, "the other thread's wrt_call returns WRT_OK");
    int64_t woken = 0;
    for (int i = 0; i < 100000 && !w.done; i++) {
        woken += wrt_atomic_notify(shared, 0, 1);
        usleep(100);
    }
    pthread_join(wt, 0);
    check(woken == 1 && w.result == 0, "the waiter is woken by the notify (result 0), not by the traps");

    struct trapper t1 = {base, PAGE, m, 2000, 0, WRT_TRAP_USER + 1};
    struct trapper t2 = {base, PAGE, m, 2000, 0, WRT_TRAP_USER + 2};
    pthread_t a1, a2;
    pthread_create(&a1, 0, trap_thread, &t1);
    pthread_create(&a2, 0, trap_thread, &t2);
    pthread_join(a1, 0);
    pthread_join(a2, 0);
    check(t1.good == 2003 && t2.good == 2003, "two threads trapping at once each get their own traps, overflow on a pthread stack");
    wrt_memory_destroy(shared);
#endif

    check(wrt_thread_fini() == WRT_OK, "wrt_thread_fini");
    struct kstack alt2 = current_altstack();
    check(alt2.flags & 2 /* SS_DISABLE */, "wrt_thread_fini put back the (absent) alternate stack");
    check(wrt_memory_destroy(m) == WRT_OK, "destroy");

    out("c-trap-test: ");
    out_u(passed);
    out(" passed, ");
    out_u(failed);
    out(" failed\n");
    return failed != 0;
}
