/*
 * demo.c: a Wasm program translated by wasm2c, running on libwrt_helper.a
 * in guard-page mode (no bounds checks in the generated code). It stores
 * and loads inside its one page, then stores one word past the end: the
 * access faults in the memory's guard, the helper turns the fault into a
 * trap of the enclosing wrt_call, and the demo prints what the helper
 * reported. After memory.grow the same address works.
 */
#include <inttypes.h>
#include <stdio.h>

#include "wrt_helper.h"
#include "wasm-rt-wrt.h"
#include "demo-module.h"

static Z_demo_instance_t demo;
static uint32_t addr, value;

static void instantiate(void* ctx) { (void)ctx; Z_demo_instantiate(&demo); }
static void store(void* ctx) { (void)ctx; Z_demoZ_store(&demo, addr, 0x5a5a5a5a); }
static void load(void* ctx) { (void)ctx; value = Z_demoZ_load(&demo, addr); }
static void grow(void* ctx) { (void)ctx; value = Z_demoZ_grow(&demo, 1); }

int main(void) {
  wasm_rt_init();
  Z_demo_init_module();
  if (wrt_w2c_call(instantiate, NULL))
    return 1;
  addr = 65532;                                  /* the last word of page 0 */
  if (wrt_w2c_call(store, NULL) || wrt_w2c_call(load, NULL) || value != 0x5a5a5a5a) {
    printf("demo: FAIL: in-bounds store/load\n");
    return 1;
  }
  printf("demo: store + load at %" PRIu32 " (in bounds): ok\n", addr);
  addr = 65536;                                  /* one past the end */
  wasm_rt_trap_t trap = wrt_w2c_call(store, NULL);
  wrt_trap_info info;
  if (trap != WASM_RT_TRAP_OOB || !wrt_w2c_last_trap(&info) ||
      info.code != WRT_TRAP_OUT_OF_BOUNDS || info.offset != addr ||
      info.memory != wrt_w2c_memory_handle(Z_demoZ_memory(&demo))) {
    printf("demo: FAIL: the store at %" PRIu32 " did not trap as out of bounds (%s)\n", addr,
           wasm_rt_strerror(trap));
    return 1;
  }
  printf("demo: store at %" PRIu32 " (out of bounds) trapped: %s; helper: code %d, signal %d, "
         "memory 0x%" PRIx64 ", offset %" PRIu64 ", pc 0x%" PRIx64 "\n",
         addr, wasm_rt_strerror(trap), info.code, info.signal, info.memory, info.offset, info.pc);
  if (wrt_w2c_call(grow, NULL) || value != 1 || wrt_w2c_call(store, NULL) ||
      wrt_w2c_call(load, NULL) || value != 0x5a5a5a5a) {
    printf("demo: FAIL: after memory.grow the store at %" PRIu32 " does not work\n", addr);
    return 1;
  }
  printf("demo: after memory.grow the store at %" PRIu32 " works: ok\n", addr);
  Z_demo_free(&demo);
  wasm_rt_free();
  return 0;
}
