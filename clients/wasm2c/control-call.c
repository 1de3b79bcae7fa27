/*
 * control-call.c: wrt_w2c_call for wabt's reference runtime (the control):
 * the same entry point the spec harness and the benchmark use with our
 * runtime, written with the reference's wasm_rt_impl_try().
 * Compile with -I/usr/src/wasm2c (wasm-rt-impl.h) and the same
 * WASM_RT_MEMCHECK_SIGNAL_HANDLER as the runtime it links with.
 */
#include "wasm-rt-impl.h"
#include "wasm-rt-wrt.h"

wasm_rt_trap_t wrt_w2c_call(void (*fn)(void* ctx), void* ctx) {
  /* The reference runtime has one global jmp_buf: save it so calls nest. */
  jmp_buf saved;
  memcpy(&saved, &wasm_rt_jmp_buf, sizeof saved);
  WASM_RT_UNWIND_TARGET* saved_unwind = wasm_rt_get_unwind_target();
  wasm_rt_trap_t code = (wasm_rt_trap_t)wasm_rt_impl_try();
  if (code == WASM_RT_TRAP_NONE)
    fn(ctx);
  memcpy(&wasm_rt_jmp_buf, &saved, sizeof saved);
  wasm_rt_set_unwind_target(saved_unwind);
  return code;
}

unsigned long long wrt_w2c_memory_handle(const wasm_rt_memory_t* memory) {
  (void)memory;
  return 0;
}
