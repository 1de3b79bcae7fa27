/*
 * bench.c: times the WAT kernels of this directory (translated by wasm2c)
 * on whichever wasm-rt.h runtime it is linked with: ours (wasm-rt-wrt.c +
 * libwrt_helper.a) or wabt's reference runtime (with ../control-call.c).
 * Each repetition instantiates a fresh module, times one call of its "run"
 * export (process CPU time) and frees it; prints the median per kernel and
 * the result, which must be the same on every runtime.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "wasm-rt-wrt.h"
#include "copy.h"
#include "grow.h"
#include "hash.h"
#include "matmul.h"

#define REPS 7

/* CPU time of the process (user + system, page faults included), not wall
 * time: the benchmark machine is shared, and wall time would count the
 * waits for a core. Both runtimes are single-threaded. */
static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

static Z_copy_instance_t copy;
static Z_hash_instance_t hash;
static Z_matmul_instance_t matmul;
static Z_grow_instance_t grow;
static double result;
static const char* kernel;

static void instantiate(void* ctx) {
  (void)ctx;
  if (!strcmp(kernel, "copy")) Z_copy_instantiate(&copy);
  if (!strcmp(kernel, "hash")) Z_hash_instantiate(&hash);
  if (!strcmp(kernel, "matmul")) Z_matmul_instantiate(&matmul);
  if (!strcmp(kernel, "grow")) Z_grow_instantiate(&grow);
}

static void run(void* ctx) {
  (void)ctx;
  if (!strcmp(kernel, "copy")) result = Z_copyZ_run(&copy, 32);                 /* 32 x 1 MiB */
  if (!strcmp(kernel, "hash")) result = Z_hashZ_run(&hash, 1000000);            /* 1M keys, 2M slots */
  if (!strcmp(kernel, "matmul")) result = Z_matmulZ_run(&matmul, 256);          /* 256 x 256 f64 */
  if (!strcmp(kernel, "grow")) result = Z_growZ_run(&grow, 16384, 16);          /* to 1 GiB by 1 MiB */
}

static void release(void) {
  if (!strcmp(kernel, "copy")) Z_copy_free(&copy);
  if (!strcmp(kernel, "hash")) Z_hash_free(&hash);
  if (!strcmp(kernel, "matmul")) Z_matmul_free(&matmul);
  if (!strcmp(kernel, "grow")) Z_grow_free(&grow);
}

int main(int argc, char** argv) {
  static const char* all[] = {"copy", "hash", "matmul", "grow"};
  wasm_rt_init();
  Z_copy_init_module();
  Z_hash_init_module();
  Z_matmul_init_module();
  Z_grow_init_module();
  for (int k = 0; k < 4; k++) {
    kernel = all[k];
    if (argc > 1 && strcmp(argv[1], kernel))
      continue;
    double t[REPS];
    for (int r = 0; r < REPS; r++) {
      if (wrt_w2c_call(instantiate, NULL) != WASM_RT_TRAP_NONE) {
        fprintf(stderr, "%s: instantiation trapped\n", kernel);
        return 1;
      }
      double t0 = now();
      wasm_rt_trap_t trap = wrt_w2c_call(run, NULL);
      t[r] = now() - t0;
      if (trap != WASM_RT_TRAP_NONE) {
        fprintf(stderr, "%s: trapped: %s\n", kernel, wasm_rt_strerror(trap));
        return 1;
      }
      release();
    }
    qsort(t, REPS, sizeof t[0], cmp);
    printf("%s %.3f %.17g\n", kernel, t[REPS / 2] * 1e3, result);
  }
  return 0;
}
