/*
 * A real C client of libwrt_helper.a: the Wasm atomics C ABI
 * (wrt_atomic_wait32, wrt_atomic_wait64, wrt_atomic_notify), from C,
 * against include/wrt_helper.h: the semantic cases of the threads
 * proposal's wait/notify tests. Built six ways by scripts/c-tests, like
 * memory_test.c. The -nostdlib builds (-DWRT_NOLIBC) have no threads, so
 * they run the single-threaded cases; the libc builds add pthread waiters
 * that a notify really wakes, and so does the qemu-system image of
 * baremetal-tests/ (-DWRT_BAREMETAL: runtime.h's threads run on other
 * cores than the notifier).
 *
 * Prints "c-atomics-test: N passed, M failed" and exits with M != 0.
 */
#if !defined(WRT_NOLIBC) && !defined(WRT_BAREMETAL)
#define _DEFAULT_SOURCE /* usleep, clock_gettime under -std=c11 */
#endif
#include "wrt_helper.h"

#if !defined(WRT_NOLIBC) && !defined(WRT_BAREMETAL) /* runtime.h has them there */
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#endif
#include "runtime.h"

#define PAGE 65536ull

#ifndef WRT_NOLIBC
/* ---- threaded cases: a notify wakes real waiters ---- */
static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct waiter {
    wrt_memory_t m;
    uint64_t addr;
    int wide;
    int32_t result;
    pthread_t thread;
};

static void *wait_forever(void *arg) {
    struct waiter *w = arg;
    w->result = w->wide ? wrt_atomic_wait64(w->m, w->addr, 0, -1) : wrt_atomic_wait32(w->m, w->addr, 0, -1);
    return 0;
}

/* Notifies `addr` until `want` waiters in total were woken (at most ~20 s);
   returns the total, which must never pass `want`. */
static int64_t notify_until(wrt_memory_t m, uint64_t addr, int64_t want) {
    int64_t total = 0;
    for (int i = 0; i < 100000 && total < want; i++) {
        int64_t n = wrt_atomic_notify(m, addr, UINT32_MAX);
        if (n < 0) return n;
        total += n;
        usleep(200);
    }
    return total;
}

struct flagged {
    wrt_memory_t m;
    uint32_t *flag;
    int rounds;
};

/* The Wasm pattern: wait while the flag is 0 (the value is re-checked, so
   a not-equal or a wake both end the loop once the flag is set). */
static void *wait_for_flag(void *arg) {
    struct flagged *f = arg;
    while (__atomic_load_n(f->flag, __ATOMIC_SEQ_CST) == 0) {
        int32_t r = wrt_atomic_wait32(f->m, 24, 0, -1);
        if (r < 0 || r > 2) return (void *)1;
        f->rounds++;
    }
    return 0;
}

static void threaded(wrt_memory_t m, uint8_t *base) {
    /* One waiter, woken by exactly one notify. */
    struct waiter one = {m, 8, 0, -100, 0};
    check(pthread_create(&one.thread, 0, wait_forever, &one) == 0, "start a waiter");
    check(notify_until(m, 8, 1) == 1, "notify woke exactly one waiter");
    pthread_join(one.thread, 0);
    check(one.result == WRT_WAIT_OK, "the woken waiter returned 0");
    check(wrt_atomic_notify(m, 8, 1) == 0, "nobody is left waiting");

    /* Three waiters on one address, 32- and 64-bit: one queue. */
    struct waiter ws[3] = {{m, 16, 0, -100, 0}, {m, 16, 1, -100, 0}, {m, 16, 0, -100, 0}};
    for (int i = 0; i < 3; i++) pthread_create(&ws[i].thread, 0, wait_forever, &ws[i]);
    int64_t other = 0;
    for (int i = 0; i < 50; i++) {
        other += wrt_atomic_notify(m, 20, UINT32_MAX);
        usleep(1000);
    }
    check(other == 0, "a notify of another address wakes nobody");
    check(notify_until(m, 16, 3) == 3, "notify counted exactly the three waiters");
    for (int i = 0; i < 3; i++) {
        pthread_join(ws[i].thread, 0);
        check(ws[i].result == WRT_WAIT_OK, "32- and 64-bit waiters woken by one notify");
    }

    /* A timed wait nobody notifies ends after its timeout, not before. */
    uint64_t t0 = now_ns();
    check(wrt_atomic_wait32(m, 8, 0, 50000000) == WRT_WAIT_TIMED_OUT, "50 ms wait times out");
    check(now_ns() - t0 >= 50000000ull, "not before 50 ms");

    /* Store-then-notify against a waiter that re-checks: never lost. */
    uint32_t *flag = (uint32_t *)(base + 24);
    struct flagged f = {m, flag, 0};
    pthread_t t;
    check(pthread_create(&t, 0, wait_for_flag, &f) == 0, "start the flag waiter");
    usleep(20000);
    __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
    wrt_atomic_notify(m, 24, 1);
    void *ret = (void *)1;
    pthread_join(t, &ret);
    check(ret == 0, "the flag waiter saw the store");

    /* The same through the header's inline notify: the view counts the
       waiter, so the fast path does not skip it. */
    const wrt_memory_view_t *v = wrt_memory_view(m);
    __atomic_store_n(flag, 0, __ATOMIC_SEQ_CST);
    f.rounds = 0;
    check(pthread_create(&t, 0, wait_for_flag, &f) == 0, "start the flag waiter (inline)");
    for (int i = 0; i < 20000 && __atomic_load_n(&v->waiters, __ATOMIC_SEQ_CST) == 0; i++) usleep(1000);
    check(__atomic_load_n(&v->waiters, __ATOMIC_SEQ_CST) == 1, "the view counts the waiter");
    __atomic_store_n(flag, 1, __ATOMIC_SEQ_CST);
    check(wrt_atomic_notify_inline(v, 24, 1) == 1, "the inline notify woke the waiter");
    ret = (void *)1;
    pthread_join(t, &ret);
    check(ret == 0, "the flag waiter saw the store (inline)");
    check(__atomic_load_n(&v->waiters, __ATOMIC_SEQ_CST) == 0, "the view uncounts the waiter");
}
#endif

static int run(void) {
    wrt_memory_t m = 0, plain = 0;
    check(wrt_memory_create(1, 2, WRT_MEMORY_SHARED, &m) == WRT_OK, "create a shared memory");
    check(wrt_memory_create(1, 1, 0, &plain) == WRT_OK, "create an unshared memory");
    uint8_t *base = wrt_memory_base(m);

    /* notify with no waiters */
    check(wrt_atomic_notify(m, 0, 1) == 0, "notify with no waiters returns 0");
    check(wrt_atomic_notify(m, 0, UINT32_MAX) == 0, "notify(all) with no waiters returns 0");
    check(wrt_atomic_notify(m, 0, 0) == 0, "notify(0) returns 0");

    /* wait on a mismatching value: not-equal */
    base[0] = 1; /* little-endian: the 32-bit word at 0 is 1 */
    check(wrt_atomic_wait32(m, 0, 0, -1) == WRT_WAIT_NOT_EQUAL, "wait32 mismatch returns 1");
    check(wrt_atomic_wait64(m, 0, 0, -1) == WRT_WAIT_NOT_EQUAL, "wait64 mismatch returns 1");
    check(wrt_atomic_wait64(m, 0, 1, 0) == WRT_WAIT_TIMED_OUT, "wait64 reads the word little-endian");

    /* timeouts */
    check(wrt_atomic_wait32(m, 4, 0, 0) == WRT_WAIT_TIMED_OUT, "wait32 with timeout 0 returns 2");
    check(wrt_atomic_wait64(m, 8, 0, 0) == WRT_WAIT_TIMED_OUT, "wait64 with timeout 0 returns 2");
    check(wrt_atomic_wait32(m, 4, 0, 1000000) == WRT_WAIT_TIMED_OUT, "wait32 with 1 ms returns 2");
    check(wrt_atomic_notify(m, 4, 1) == 0, "a timed-out waiter is not counted");

    /* traps: unaligned, out of bounds, not shared, bad handle */
    check(wrt_atomic_wait32(m, 2, 0, 0) == WRT_E_UNALIGNED, "wait32 unaligned traps");
    check(wrt_atomic_wait64(m, 4, 0, 0) == WRT_E_UNALIGNED, "wait64 at 4 mod 8 traps");
    check(wrt_atomic_notify(m, 1, 1) == WRT_E_UNALIGNED, "notify unaligned traps");
    check(wrt_atomic_wait32(m, PAGE, 0, 0) == WRT_E_OUT_OF_BOUNDS, "wait32 out of bounds traps");
    check(wrt_atomic_wait64(m, PAGE - 8, 0, 0) == WRT_WAIT_TIMED_OUT, "wait64 on the last word is fine");
    check(wrt_atomic_wait64(m, PAGE, 0, 0) == WRT_E_OUT_OF_BOUNDS, "wait64 out of bounds traps");
    check(wrt_atomic_notify(m, PAGE, 1) == WRT_E_OUT_OF_BOUNDS, "notify out of bounds traps");
    check(wrt_atomic_notify(m, UINT64_MAX - 3, 1) == WRT_E_OUT_OF_BOUNDS, "notify with addr + 4 wrapping traps");
    check(wrt_atomic_wait32(plain, 0, 0, 0) == WRT_E_NOT_SHARED, "wait32 on unshared memory traps");
    check(wrt_atomic_wait64(plain, 0, 0, 0) == WRT_E_NOT_SHARED, "wait64 on unshared memory traps");
    check(wrt_atomic_notify(plain, 0, 1) == 0, "notify on unshared memory returns 0");
    check(wrt_atomic_notify(plain, PAGE, 1) == WRT_E_OUT_OF_BOUNDS, "notify on unshared memory checks bounds");
    /* The header's inline fast path: the same results and codes as the call. */
    const wrt_memory_view_t *vm = wrt_memory_view(m), *vp = wrt_memory_view(plain);
    check(vm->waiters == 0 && vp->waiters == 0, "nobody waits");
    check(wrt_atomic_notify_inline(vm, 0, 1) == 0, "inline notify with no waiters returns 0");
    check(wrt_atomic_notify_inline(vm, 1, 1) == WRT_E_UNALIGNED, "inline notify unaligned traps");
    check(wrt_atomic_notify_inline(vm, PAGE - 2, 1) == WRT_E_UNALIGNED, "inline notify at PAGE-2 traps (unaligned)");
    check(wrt_atomic_notify_inline(vm, PAGE, 1) == WRT_E_OUT_OF_BOUNDS, "inline notify out of bounds traps");
    check(wrt_atomic_notify_inline(vm, UINT64_MAX - 3, 1) == WRT_E_OUT_OF_BOUNDS, "inline notify wrapping traps");
    check(wrt_atomic_notify_inline(vp, 0, 1) == 0, "inline notify on unshared memory returns 0");
    check(wrt_atomic_notify_inline(vp, PAGE, 1) == WRT_E_OUT_OF_BOUNDS, "inline notify on unshared memory checks bounds");
    check(wrt_atomic_wait32(0, 0, 0, 0) == WRT_E_BAD_HANDLE, "wait32 on handle 0");
    check(wrt_atomic_notify(0, 0, 1) == WRT_E_BAD_HANDLE, "notify on handle 0");
    check(wrt_memory_grow(m, 1) == 1, "grow the shared memory");
    check(wrt_atomic_wait32(m, PAGE, 0, 0) == WRT_WAIT_TIMED_OUT, "bounds follow grow");
    check(wrt_strerror(WRT_E_UNALIGNED) != wrt_strerror(12345) &&
              wrt_strerror(WRT_E_NOT_SHARED) != wrt_strerror(12345),
          "the new codes have descriptions");

#ifndef WRT_NOLIBC
    threaded(m, base);
#endif

    check(wrt_memory_destroy(m) == WRT_OK && wrt_memory_destroy(plain) == WRT_OK, "destroy");
    check(wrt_atomic_notify(m, 0, 1) == WRT_E_BAD_HANDLE, "notify on a destroyed memory");

    out("c-atomics-test: ");
    out_u(passed);
    out(" passed, ");
    out_u(failed);
    out(" failed\n");
    return failed != 0;
}
