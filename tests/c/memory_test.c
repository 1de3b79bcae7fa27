/*
 * A real C client of libwrt_helper.a: the linear-memory C ABI, from C,
 * against include/wrt_helper.h. Built six ways by scripts/c-tests:
 * glibc dynamic, gcc -static, musl-gcc -static, aarch64-linux-gnu-gcc
 * -static (run under qemu-aarch64-static), and -nostdlib on x86_64 and
 * aarch64 with the tiny _start of runtime.h (-DWRT_NOLIBC), which proves
 * the helper needs nothing from libc. The qemu-system image of
 * baremetal-tests/ runs it too, over the bare-metal and the Zephyr
 * archives (-DWRT_BAREMETAL: no page protection there, see runtime.h).
 *
 * Prints "c-memory-test: N passed, M failed" and exits with M != 0.
 */
#include "wrt_helper.h"

#include "runtime.h"

#define PAGE 65536ull

static int all_bytes(const uint8_t *p, uint64_t n, uint8_t v) {
    for (uint64_t i = 0; i < n; i++)
        if (p[i] != v) return 0;
    return 1;
}

static int run(void) {
    wrt_memory_t m = 0;

    /* create / base / size */
    check(wrt_memory_create(1, 4, 0, &m) == WRT_OK, "create(1, max 4)");
    uint8_t *base = wrt_memory_base(m);
    check(base != 0, "base is not NULL");
    check(wrt_memory_size(m) == 1, "size is 1 page");
    check(all_bytes(base, PAGE, 0), "new memory reads zero");
    for (uint64_t i = 0; i < PAGE; i++) base[i] = (uint8_t)(i * 7 + 1);

    /* grow */
    check(wrt_memory_grow(m, 1) == 1, "grow(1) returns the old size 1");
    check(wrt_memory_base(m) == base, "grow does not move the memory");
    check(wrt_memory_size(m) == 2, "size is 2 after grow");
    check(all_bytes(base + PAGE, PAGE, 0), "grown page reads zero");
    check(wrt_memory_grow(m, 3) == WRT_E_OVER_MAXIMUM, "grow past the maximum fails");
    check(wrt_memory_size(m) == 2, "size unchanged after a failed grow");
    check(wrt_memory_grow(m, 0) == 2, "grow(0) returns the size");
    check(wrt_memory_grow(m, UINT64_MAX) == WRT_E_OVER_MAXIMUM, "grow(UINT64_MAX) fails");
    int kept = 1;
    for (uint64_t i = 0; i < PAGE; i++) kept &= base[i] == (uint8_t)(i * 7 + 1);
    check(kept, "contents survive grows and failed grows");

    /* fill */
    check(wrt_memory_fill(m, 100, 0xAB, 1000) == WRT_OK, "fill");
    check(all_bytes(base + 100, 1000, 0xAB) && base[99] == (uint8_t)(99 * 7 + 1) &&
              base[1100] == (uint8_t)(1100 * 7 + 1),
          "fill wrote exactly its range");
    check(wrt_memory_fill(m, 2 * PAGE - 10, 0x11, 11) == WRT_E_OUT_OF_BOUNDS, "fill past the end fails");
    check(all_bytes(base + 2 * PAGE - 10, 10, 0), "a failed fill writes nothing");
    check(wrt_memory_fill(m, UINT64_MAX, 1, 2) == WRT_E_OVERFLOW, "fill with wrapping dst + len fails");
    check(wrt_memory_fill(m, 2 * PAGE, 1, 0) == WRT_OK, "zero-length fill at the end is fine");

    /* copy, overlapping both ways, against a byte-by-byte reference */
    uint8_t ref[300];
    for (int i = 0; i < 300; i++) ref[i] = base[i];
    check(wrt_memory_copy(m, 10, 0, 200) == WRT_OK, "copy forward-overlapping");
    for (int i = 199; i >= 0; i--) ref[10 + i] = ref[i];
    int same = 1;
    for (int i = 0; i < 300; i++) same &= base[i] == ref[i];
    check(same, "copy with dst > src overlapping matches memmove");
    check(wrt_memory_copy(m, 0, 10, 200) == WRT_OK, "copy backward-overlapping");
    for (int i = 0; i < 200; i++) ref[i] = ref[10 + i];
    same = 1;
    for (int i = 0; i < 300; i++) same &= base[i] == ref[i];
    check(same, "copy with dst < src overlapping matches memmove");
    check(wrt_memory_copy(m, 0, 2 * PAGE - 5, 6) == WRT_E_OUT_OF_BOUNDS, "copy from past the end fails");
    check(wrt_memory_copy(m, 2 * PAGE - 5, 0, 6) == WRT_E_OUT_OF_BOUNDS, "copy to past the end fails");
    check(base[2 * PAGE - 5] == 0, "a failed copy writes nothing");

    /* reset: back to the initial size, zeroed */
#ifdef WRT_NO_PAGE_PROTECTION
    /* No page protection (bare metal, Zephyr; see runtime.h): the pages
       past the initial size cannot be made inaccessible again, so that
       reset is refused and changes nothing; at the initial size it works.
       And a memory that relies on guard pages cannot be made. */
    check(wrt_memory_reset(m, 0) == WRT_E_NOT_SUPPORTED, "reset past the initial size: not supported");
    check(wrt_memory_size(m) == 2 && base[500] == 0xAB, "a refused reset changed nothing");
    wrt_memory_t r = 0;
    check(wrt_memory_create(1, 2, 0, &r) == WRT_OK, "create a memory to reset");
    check(wrt_memory_fill(r, 0, 0x5A, PAGE) == WRT_OK, "fill it");
    check(wrt_memory_reset(r, 0) == WRT_OK && all_bytes(wrt_memory_base(r), PAGE, 0),
          "reset at the initial size zeroes it");
    check(wrt_memory_grow(r, 1) == 1 && all_bytes(wrt_memory_base(r) + PAGE, PAGE, 0),
          "grow after reset reads zero");
    check(wrt_memory_destroy(r) == WRT_OK, "destroy it");
    check((wrt_memory_create)(1, 1, 0, &r) == WRT_E_NOT_SUPPORTED,
          "a memory without explicit bounds: not supported");
#else
    check(wrt_memory_reset(m, 0) == WRT_OK, "reset");
    check(wrt_memory_size(m) == 1, "reset returns to the initial size");
    check(all_bytes(base, PAGE, 0), "reset memory reads zero");
    check(wrt_memory_grow(m, 1) == 1, "grow after reset");
    check(all_bytes(base + PAGE, PAGE, 0), "page regrown after reset reads zero");
#endif

    /* destroy and stale handles */
    check(wrt_memory_destroy(m) == WRT_OK, "destroy");
    check(wrt_memory_destroy(m) == WRT_E_BAD_HANDLE, "second destroy is a bad handle");
    check(wrt_memory_size(m) == WRT_E_BAD_HANDLE, "size of a destroyed memory");
    check(wrt_memory_base(m) == 0, "base of a destroyed memory is NULL");
    check(wrt_memory_grow(m, 1) == WRT_E_BAD_HANDLE, "grow of a destroyed memory");
    check(wrt_memory_fill(0, 0, 0, 0) == WRT_E_BAD_HANDLE, "the 0 handle");

    /* creation errors */
    check(wrt_memory_create(1, 1, 0, 0) == WRT_E_NULL, "create with NULL out");
    check(wrt_memory_create(1, 1, 1u << 31, &m) == WRT_E_BAD_FLAGS, "unknown flags");
    check(wrt_memory_create(1, WRT_NO_MAXIMUM, WRT_MEMORY_SHARED, &m) == WRT_E_INVALID,
          "shared without a maximum");
    check(wrt_memory_create(3, 2, 0, &m) == WRT_E_INVALID, "initial above maximum");

    /* a shared memory64 with explicit bounds */
    wrt_memory_t s = 0;
    check(wrt_memory_create(2, 8, WRT_MEMORY_SHARED | WRT_MEMORY_64, &s) == WRT_OK, "shared memory64");
    check(wrt_memory_grow(s, 6) == 2, "grow a shared memory to its maximum");
    check(wrt_memory_reset(s, 0) == WRT_E_INVALID, "reset of a shared memory is refused");
    check(wrt_memory_destroy(s) == WRT_OK, "destroy the shared memory");

    check(wrt_strerror(WRT_E_OVERFLOW) != 0 && wrt_strerror(12345) != 0, "wrt_strerror never NULL");

    /* the ABI this program was built against is the archive's */
    check(wrt_abi_version() == WRT_ABI_VERSION, "wrt_abi_version() == WRT_ABI_VERSION");
    check(wrt_max_memories() >= 1, "wrt_max_memories()");

    /* the view, read in place as compiled code reads it */
    wrt_memory_t v = 0;
    check(wrt_memory_create(1, 3, WRT_MEMORY_SHARED, &v) == WRT_OK, "create a shared memory");
    const wrt_memory_view_t *view = wrt_memory_view(v);
    check(view != 0 && view == wrt_memory_view(v), "the view is one stable pointer");
    check(view->base == wrt_memory_base(v) && view->memory == v, "view base and handle");
    check(__atomic_load_n(&view->length, __ATOMIC_ACQUIRE) == PAGE, "view length (acquire load)");
    check(view->maximum_pages == 3 && view->flags == (WRT_MEMORY_SHARED | WRT_TEST_FLAGS),
          "view maximum and flags");
    check(wrt_memory_grow(v, 2) == 1, "grow the viewed memory");
    uint64_t length = __atomic_load_n(&view->length, __ATOMIC_ACQUIRE);
    check(length == 3 * PAGE, "grow publishes the view's length");
    view->base[length - 1] = 5;
    check(view->base[length - 1] == 5, "the last byte below the length is writable");
    check(wrt_atomic_notify_view(view, 0, 1) == 0, "notify through the view, nobody waits");
    check(wrt_atomic_wait32_view(view, 0, 1, -1) == WRT_WAIT_NOT_EQUAL, "wait through the view");
    check(wrt_atomic_notify_view(0, 0, 1) == WRT_E_BAD_HANDLE, "notify through NULL");

    /* host buffers, another memory, the owner of an address */
    uint8_t hello[5] = {'h', 'e', 'l', 'l', 'o'}, back[5] = {0};
    check(wrt_memory_write(v, 10, hello, 5) == WRT_OK, "write from a host buffer");
    check(wrt_memory_read(v, 10, back, 5) == WRT_OK && back[0] == 'h' && back[4] == 'o',
          "read into a host buffer");
    check(wrt_memory_write(v, 3 * PAGE - 4, hello, 5) == WRT_E_OUT_OF_BOUNDS, "write past the end");
    wrt_memory_t w = 0;
    check(wrt_memory_create(1, 1, 0, &w) == WRT_OK, "create a second memory");
    check(wrt_memory_copy_between(w, 0, v, 10, 5) == WRT_OK, "copy between memories");
    check(wrt_memory_base(w)[4] == 'o', "copied between memories");
    wrt_memory_t owner = 0;
    uint64_t offset = 0;
    check(wrt_memory_at(view->base + PAGE + 3, &owner, &offset) == WRT_OK && owner == v &&
              offset == PAGE + 3,
          "wrt_memory_at finds the memory and offset");
    check(wrt_memory_at(hello, &owner, &offset) == WRT_E_NOT_FOUND, "a host address has no memory");
    check(wrt_memory_destroy(w) == WRT_OK && wrt_memory_destroy(v) == WRT_OK, "destroy both");

    out("c-memory-test: ");
    out_u(passed);
    out(" passed, ");
    out_u(failed);
    out(" failed\n");
    return failed != 0;
}
