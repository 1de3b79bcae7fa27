/* The Zephyr kernel symbols the Zephyr backend links against, declared as
 * Zephyr declares them, compiled by a C compiler (aarch64-linux-gnu-gcc,
 * freestanding) so that the Rust declarations in src/os/zephyr/kernel.rs
 * are checked against C's calling convention for these prototypes, not
 * against Rust's idea of it. Each function only forwards plain scalars to
 * the fixture in zephyr_fixture.rs. This is not Zephyr.
 *
 * Declarations (zephyrproject-rtos/zephyr):
 *   include/zephyr/sys/atomic_types.h  typedef long atomic_t;
 *   include/zephyr/kernel.h            struct k_futex { atomic_t val; };
 *                                      int k_futex_wait(struct k_futex *, int, k_timeout_t);
 *                                      int k_futex_wake(struct k_futex *, bool);
 *   include/zephyr/sys_clock.h         k_ticks_t: int64_t with CONFIG_TIMEOUT_64BIT,
 *                                      else uint32_t; typedef struct { k_ticks_t ticks; } k_timeout_t;
 *   kernel/kheap.c                     void *k_heap_aligned_alloc(struct k_heap *, size_t,
 *                                      size_t, k_timeout_t); void k_heap_free(struct k_heap *, void *);
 *   include/zephyr/kernel.h            int64_t k_uptime_ticks(void);
 *                                      (kernel/timeout.c: z_impl_k_uptime_ticks)
 * It also defines, as an integrator does in C, the k_futex table the
 * Zephyr libwrt_helper.a waits on (include/wrt_helper.h,
 * WRT_ZEPHYR_FUTEXES).
 * CONFIG_TIMEOUT_64BIT comes from the same build inputs as the library's
 * (build.rs passes -DCONFIG_TIMEOUT_64BIT=1 or not). */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wrt_helper.h"

typedef long atomic_t;
struct k_futex {
	atomic_t val;
};
struct k_heap;

#ifdef CONFIG_TIMEOUT_64BIT
typedef int64_t k_ticks_t;
#else
typedef uint32_t k_ticks_t;
#endif
typedef struct {
	k_ticks_t ticks;
} k_timeout_t;

/* zephyr_fixture.rs */
int wrt_fixture_futex_wait(struct k_futex *futex, int expected, uint64_t ticks);
int wrt_fixture_futex_wake(struct k_futex *futex, int wake_all);
void *wrt_fixture_heap_alloc(struct k_heap *h, size_t align, size_t bytes, uint64_t ticks);
void wrt_fixture_heap_free(struct k_heap *h, void *mem);
int64_t wrt_fixture_uptime_ticks(void);

/* The integrator's table (wrt_helper.h): kernel objects, in C. */
struct k_futex wrt_zephyr_futexes[WRT_ZEPHYR_FUTEXES];

/* Ticks as the zero-extended register word of the syscall marshaller. */
static uint64_t word(k_timeout_t t)
{
	return (uint64_t)t.ticks;
}

int z_impl_k_futex_wait(struct k_futex *futex, int expected, k_timeout_t timeout)
{
	return wrt_fixture_futex_wait(futex, expected, word(timeout));
}

int z_impl_k_futex_wake(struct k_futex *futex, bool wake_all)
{
	return wrt_fixture_futex_wake(futex, wake_all ? 1 : 0);
}

void *k_heap_aligned_alloc(struct k_heap *h, size_t align, size_t bytes, k_timeout_t timeout)
{
	return wrt_fixture_heap_alloc(h, align, bytes, word(timeout));
}

void k_heap_free(struct k_heap *h, void *mem)
{
	wrt_fixture_heap_free(h, mem);
}

int64_t z_impl_k_uptime_ticks(void)
{
	return wrt_fixture_uptime_ticks();
}
