/*
 * The tiny runtime shared by the C clients of libwrt_helper.a: with
 * -DWRT_NOLIBC, just enough of a C runtime (write(2), exit_group(2) and a
 * _start) to prove the helper needs nothing from libc; with
 * -DWRT_BAREMETAL, the hooks of the qemu-system image that links the test
 * (baremetal-tests/src/c_clients.rs: output, threads on other cores, the
 * clock), under the names of the pthread and time calls the tests use;
 * otherwise stdio. Each test defines `static int run(void)` and reports
 * with `check`.
 */
#ifndef WRT_TEST_RUNTIME_H
#define WRT_TEST_RUNTIME_H

#if defined(WRT_BAREMETAL)
/* ---- bare metal / Zephyr fixture image: the harness's hooks ----
 * The image calls WRT_TEST_ENTRY (one name per test, -DWRT_TEST_ENTRY=...)
 * on core 0; threads run on cores 1-3, so a wait in a thread and the
 * notify from the test's own code are on different cores. */
#ifndef WRT_TEST_ENTRY
#error "define WRT_TEST_ENTRY, the name the image calls this test by"
#endif
/* Memory there is not page-protected: no guard pages, so every memory has
 * explicit bounds (a memory without them is WRT_E_NOT_SUPPORTED: the test
 * calls (wrt_memory_create)(...) to check that). */
#define WRT_NO_PAGE_PROTECTION 1
#define WRT_TEST_FLAGS WRT_MEMORY_EXPLICIT_BOUNDS
#define wrt_memory_create(i, m, f, o) wrt_memory_create((i), (m), (f) | WRT_TEST_FLAGS, (o))
void wrt_test_out(const char *s);
unsigned long wrt_test_thread_start(void *(*fn)(void *), void *arg);
void *wrt_test_thread_join(unsigned long thread);
uint64_t wrt_test_now_ns(void);
void wrt_test_sleep_ns(uint64_t ns);
static void out(const char *s) { wrt_test_out(s); }
static void out_u(unsigned long v) {
    char buf[24];
    int i = 23;
    buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    out(buf + i);
}
typedef unsigned long pthread_t;
__attribute__((unused)) static int pthread_create(pthread_t *t, const void *attr, void *(*fn)(void *), void *arg) {
    (void)attr;
    *t = wrt_test_thread_start(fn, arg);
    return 0;
}
__attribute__((unused)) static int pthread_join(pthread_t t, void **ret) {
    void *r = wrt_test_thread_join(t);
    if (ret) *ret = r;
    return 0;
}
__attribute__((unused)) static int usleep(unsigned us) {
    wrt_test_sleep_ns((uint64_t)us * 1000u);
    return 0;
}
struct timespec {
    long tv_sec;
    long tv_nsec;
};
#define CLOCK_MONOTONIC 1
__attribute__((unused)) static int clock_gettime(int clock, struct timespec *ts) {
    (void)clock;
    uint64_t ns = wrt_test_now_ns();
    ts->tv_sec = (long)(ns / 1000000000u);
    ts->tv_nsec = (long)(ns % 1000000000u);
    return 0;
}
static int run(void);
int WRT_TEST_ENTRY(void) { return run(); }
#elif defined(WRT_NOLIBC)
/* ---- just enough of a C runtime: write(2) and exit_group(2) ---- */
static long sys3(long nr, long a, long b, long c) {
#if defined(__x86_64__)
    long ret;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
    return x0;
#else
#error "unsupported architecture"
#endif
}
#if defined(__x86_64__)
enum { NR_WRITE = 1, NR_EXIT_GROUP = 231 };
#else
enum { NR_WRITE = 64, NR_EXIT_GROUP = 94 };
#endif
static size_t slen(const char *s) { size_t n = 0; while (s[n]) n++; return n; }
static void out(const char *s) { sys3(NR_WRITE, 1, (long)s, (long)slen(s)); }
static void out_u(unsigned long v) {
    char buf[24];
    int i = 23;
    buf[i] = 0;
    do { buf[--i] = (char)('0' + v % 10); v /= 10; } while (v);
    out(buf + i);
}
static int run(void);
__attribute__((noreturn)) void wrt_c_main(void) {
    sys3(NR_EXIT_GROUP, run(), 0, 0);
    __builtin_unreachable();
}
/* The kernel enters _start with sp 16-byte aligned; call into C from there. */
#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n  xor %rbp, %rbp\n  and $-16, %rsp\n  call wrt_c_main\n  ud2\n");
#else
__asm__(".globl _start\n_start:\n  mov x29, #0\n  mov x30, #0\n  bl wrt_c_main\n  brk #1\n");
#endif
#else
#include <stdio.h>
static void out(const char *s) { fputs(s, stdout); }
static void out_u(unsigned long v) { printf("%lu", v); }
static int run(void);
int main(void) { int failed = run(); fflush(stdout); return failed; }
#endif

/* Flags every wrt_memory_create of the tests gets (see WRT_BAREMETAL). */
#ifndef WRT_TEST_FLAGS
#define WRT_TEST_FLAGS 0u
#endif

static unsigned passed, failed;

static void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        out("FAIL: ");
        out(what);
        out("\n");
    }
}

#endif /* WRT_TEST_RUNTIME_H */
