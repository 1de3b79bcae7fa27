/*
 * The tiny runtime shared by the C clients of libwrt_helper.a: with
 * -DWRT_NOLIBC, just enough of a C runtime (write(2), exit_group(2) and a
 * _start) to prove the helper needs nothing from libc; otherwise stdio.
 * Each test defines `static int run(void)` and reports with `check`.
 */
#ifndef WRT_TEST_RUNTIME_H
#define WRT_TEST_RUNTIME_H

#ifdef WRT_NOLIBC
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
