/*
 * wasm-rt-wrt.c: the wasm-rt.h API of wasm2c 1.0.32 on libwrt_helper.a.
 *
 * Memories are helper memories (wrt_memory_create / _grow / _destroy). The
 * generated code reads three fields of wasm_rt_memory_t directly: data (the
 * base, stable: helper memories never move), size and pages (for the bounds
 * checks of explicit mode, memory.size, memory.fill/copy/init). They are
 * republished from wrt_memory_size after every grow (wasm-rt.h fixes their
 * types: u32). wasm_rt_memory_t has no room for the 64-bit helper handle:
 * wrt_memory_at finds it from data.
 *
 * Two bounds modes, chosen when compiling this file and the generated code
 * (the same value for both):
 *   -DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0  explicit checks in the generated
 *       code; memories are WRT_MEMORY_EXPLICIT_BOUNDS (reserve the maximum
 *       only); call depth counted (WASM_RT_MAX_CALL_STACK_DEPTH).
 *   -DWASM_RT_MEMCHECK_SIGNAL_HANDLER=1  (wasm-rt.h's default on 64-bit)
 *       no checks in the generated code; memories have the helper's 4 GiB +
 *       4 GiB + 64 KiB guard reservation and an out-of-bounds access faults;
 *       the helper's trap handling (wrt_call) turns the fault into a trap.
 *
 * Traps, in both modes: wasm_rt_trap is wrt_trap_raise, wrt_w2c_call is
 * wrt_call, and wasm_rt_init calls wrt_trap_init and wrt_thread_init (an
 * alternate signal stack, so a stack overflow is reported). This file
 * installs no signal handler of its own.
 *
 * Tables, function types and exceptions are plain C (as in wabt's reference
 * runtime). Not thread-safe, like wasm2c 1.0.32's own runtime (one global
 * exception, one global call depth).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wrt_helper.h"
#include "wasm-rt-wrt.h"

#define PAGE_SIZE 65536
#define MAX_EXCEPTION_SIZE PAGE_SIZE

#if WASM_RT_USE_STACK_DEPTH_COUNT
uint32_t wasm_rt_call_stack_depth;
#endif

/* ---- memories ---------------------------------------------------------- */

/* wasm_rt_memory_t has no room for the helper handle: grow and free find it
 * from the base with wrt_memory_at (a lock-free scan of the helper's handle
 * table; never on a load or store). */
static wrt_memory_t handle_of(const wasm_rt_memory_t* memory) {
  wrt_memory_t handle = 0;
  uint64_t offset = 1;
  if (memory->data == NULL || wrt_memory_at(memory->data, &handle, &offset) != WRT_OK ||
      offset != 0)
    return 0;
  return handle;
}

unsigned long long wrt_w2c_memory_handle(const wasm_rt_memory_t* memory) {
  return handle_of(memory);
}

static void fatal(const char* what, int32_t code) {
  fprintf(stderr, "wasm-rt-wrt: %s: %s\n", what, wrt_strerror(code));
  abort();
}

static void publish(wasm_rt_memory_t* memory, wrt_memory_t handle) {
  int64_t pages = wrt_memory_size(handle);
  if (pages < 0)
    fatal("wrt_memory_size", (int32_t)pages);
  memory->pages = (uint32_t)pages;
  memory->size = (uint32_t)((uint64_t)pages * PAGE_SIZE); /* wraps at 4 GiB, as wasm-rt.h's u32 */
}

void wasm_rt_allocate_memory(wasm_rt_memory_t* memory,
                             uint32_t initial_pages,
                             uint32_t max_pages) {
  uint32_t flags = WASM_RT_MEMCHECK_SIGNAL_HANDLER ? 0 : WRT_MEMORY_EXPLICIT_BOUNDS;
  uint64_t maximum = max_pages > 65536 ? WRT_NO_MAXIMUM : max_pages;
  wrt_memory_t handle = 0;
  int32_t rc = wrt_memory_create(initial_pages, maximum, flags, &handle);
  if (rc != WRT_OK)
    fatal("wrt_memory_create", rc);
  memory->data = wrt_memory_base(handle);
  memory->max_pages = max_pages;
  publish(memory, handle);
}

uint32_t wasm_rt_grow_memory(wasm_rt_memory_t* memory, uint32_t delta) {
  wrt_memory_t handle = handle_of(memory);
  if (handle == 0)
    return UINT32_MAX;
  if ((uint64_t)memory->pages + delta > memory->max_pages)
    return UINT32_MAX;
  int64_t old = wrt_memory_grow(handle, delta);
  if (old < 0)
    return UINT32_MAX;
  publish(memory, handle);
  return (uint32_t)old;
}

void wasm_rt_free_memory(wasm_rt_memory_t* memory) {
  wrt_memory_t handle = handle_of(memory);
  if (handle == 0)
    return;
  wrt_memory_destroy(handle);
  memory->data = NULL;
  memory->pages = memory->size = 0;
}

/* ---- traps ------------------------------------------------------------- */

static int32_t to_wrt(wasm_rt_trap_t code) {
  switch (code) {
    case WASM_RT_TRAP_OOB: return WRT_TRAP_OUT_OF_BOUNDS;
    case WASM_RT_TRAP_INT_OVERFLOW: return WRT_TRAP_INT_OVERFLOW;
    case WASM_RT_TRAP_DIV_BY_ZERO: return WRT_TRAP_INT_DIVIDE_BY_ZERO;
    case WASM_RT_TRAP_INVALID_CONVERSION: return WRT_TRAP_INVALID_CONVERSION;
    case WASM_RT_TRAP_UNREACHABLE: return WRT_TRAP_UNREACHABLE;
    case WASM_RT_TRAP_CALL_INDIRECT: return WRT_TRAP_INDIRECT_CALL_MISMATCH;
    case WASM_RT_TRAP_EXHAUSTION: return WRT_TRAP_STACK_OVERFLOW;
    default: return WRT_TRAP_USER + (int32_t)code;
  }
}

static wrt_trap_info g_last_trap;
static bool g_have_last_trap;

int wrt_w2c_last_trap(wrt_trap_info* out) {
  if (g_have_last_trap)
    *out = g_last_trap;
  return g_have_last_trap;
}

static wasm_rt_trap_t from_wrt(int32_t code) {
  switch (code) {
    case WRT_TRAP_OUT_OF_BOUNDS:
    case WRT_TRAP_TABLE_OUT_OF_BOUNDS: return WASM_RT_TRAP_OOB;
    case WRT_TRAP_STACK_OVERFLOW: return WASM_RT_TRAP_EXHAUSTION;
    case WRT_TRAP_UNREACHABLE: return WASM_RT_TRAP_UNREACHABLE;
    case WRT_TRAP_INT_DIVIDE_BY_ZERO: return WASM_RT_TRAP_DIV_BY_ZERO;
    case WRT_TRAP_INT_OVERFLOW: return WASM_RT_TRAP_INT_OVERFLOW;
    case WRT_TRAP_INVALID_CONVERSION: return WASM_RT_TRAP_INVALID_CONVERSION;
    case WRT_TRAP_INDIRECT_CALL_NULL:
    case WRT_TRAP_INDIRECT_CALL_MISMATCH: return WASM_RT_TRAP_CALL_INDIRECT;
    default:
      if (code > WRT_TRAP_USER && code - WRT_TRAP_USER <= WASM_RT_TRAP_EXHAUSTION)
        return (wasm_rt_trap_t)(code - WRT_TRAP_USER);
      return WASM_RT_TRAP_UNREACHABLE; /* any other trap still ends the call */
  }
}

void wasm_rt_trap(wasm_rt_trap_t code) {
  wrt_trap_raise(to_wrt(code));
}

static jmp_buf* g_unwind_target;

struct call_frame {
  void (*fn)(void*);
  void* ctx;
};

static void call_thunk(void* p) {
  struct call_frame* f = p;
  f->fn(f->ctx);
}

wasm_rt_trap_t wrt_w2c_call(void (*fn)(void* ctx), void* ctx) {
  jmp_buf* saved_unwind = g_unwind_target;
#if WASM_RT_USE_STACK_DEPTH_COUNT
  uint32_t saved_depth = wasm_rt_call_stack_depth;
#endif
  wasm_rt_trap_t result = WASM_RT_TRAP_NONE;
  g_unwind_target = NULL; /* an exception nobody catches ends this call */
  struct call_frame frame = {fn, ctx};
  wrt_trap_info info;
  int32_t rc = wrt_call(call_thunk, &frame, &info);
  if (rc < 0)
    fatal("wrt_call", rc);
  if (rc > 0) {
    result = from_wrt(rc);
    g_last_trap = info;
    g_have_last_trap = true;
  }
#if WASM_RT_USE_STACK_DEPTH_COUNT
  wasm_rt_call_stack_depth = saved_depth;
#endif
  g_unwind_target = saved_unwind;
  return result;
}

/* ---- runtime state ----------------------------------------------------- */

static bool g_initialized;

void wasm_rt_init(void) {
  if (g_initialized)
    return;
  int32_t rc = wrt_trap_init();
  if (rc != WRT_OK)
    fatal("wrt_trap_init", rc);
  /* An alternate signal stack for this thread: a stack overflow in
   * generated code is then reported (WASM_RT_TRAP_EXHAUSTION). */
  rc = wrt_thread_init();
  if (rc != WRT_OK)
    fatal("wrt_thread_init", rc);
  g_initialized = true;
}

bool wasm_rt_is_initialized(void) {
  return g_initialized;
}

/* ---- function types (plain C) ------------------------------------------ */

typedef struct {
  wasm_rt_type_t* types; /* params, then results */
  uint32_t params, results;
} func_type_t;

static func_type_t* g_func_types;
static uint32_t g_func_type_count;

uint32_t wasm_rt_register_func_type(uint32_t params, uint32_t results, ...) {
  uint32_t n = params + results;
  wasm_rt_type_t* types = malloc((n ? n : 1) * sizeof *types);
  if (!types)
    abort();
  va_list ap;
  va_start(ap, results);
  for (uint32_t i = 0; i < n; i++)
    types[i] = va_arg(ap, wasm_rt_type_t);
  va_end(ap);
  for (uint32_t i = 0; i < g_func_type_count; i++) {
    func_type_t* t = &g_func_types[i];
    if (t->params == params && t->results == results &&
        memcmp(t->types, types, n * sizeof *types) == 0) {
      free(types);
      return i + 1;
    }
  }
  func_type_t* grown = realloc(g_func_types, (g_func_type_count + 1) * sizeof *grown);
  if (!grown)
    abort();
  g_func_types = grown;
  g_func_types[g_func_type_count] = (func_type_t){types, params, results};
  return ++g_func_type_count;
}

void wasm_rt_free(void) {
  for (uint32_t i = 0; i < g_func_type_count; i++)
    free(g_func_types[i].types);
  free(g_func_types);
  g_func_types = NULL;
  g_func_type_count = 0;
  wrt_thread_fini();
  g_initialized = false;
}

/* ---- exceptions (plain C) ---------------------------------------------- */

static uint32_t g_exception_tag;
static uint32_t g_exception_size;
static uint8_t g_exception[MAX_EXCEPTION_SIZE];

uint32_t wasm_rt_register_tag(uint32_t size) {
  static uint32_t tags;
  if (size > MAX_EXCEPTION_SIZE)
    wasm_rt_trap(WASM_RT_TRAP_EXHAUSTION);
  return tags++;
}

void wasm_rt_load_exception(uint32_t tag, uint32_t size, const void* values) {
  if (size > MAX_EXCEPTION_SIZE)
    abort();
  g_exception_tag = tag;
  g_exception_size = size;
  if (size)
    memcpy(g_exception, values, size);
}

void wasm_rt_throw(void) {
  if (!g_unwind_target)
    wasm_rt_trap(WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
  /* The target was set by the generated code's wasm_rt_try (WASM_RT_SETJMP:
   * sigsetjmp in guard mode, setjmp otherwise); glibc's and musl's longjmp
   * honour either. */
  longjmp(*g_unwind_target, WASM_RT_TRAP_UNCAUGHT_EXCEPTION);
}

WASM_RT_UNWIND_TARGET* wasm_rt_get_unwind_target(void) {
  return g_unwind_target;
}

void wasm_rt_set_unwind_target(WASM_RT_UNWIND_TARGET* target) {
  g_unwind_target = target;
}

uint32_t wasm_rt_exception_tag(void) {
  return g_exception_tag;
}

uint32_t wasm_rt_exception_size(void) {
  return g_exception_size;
}

void* wasm_rt_exception(void) {
  return g_exception;
}

/* ---- tables (plain C) -------------------------------------------------- */

#define DEFINE_TABLE_OPS(type)                                                   \
  void wasm_rt_allocate_##type##_table(wasm_rt_##type##_table_t* table,          \
                                       uint32_t elements, uint32_t max_elements) { \
    table->size = elements;                                                      \
    table->max_size = max_elements;                                              \
    table->data = calloc(elements ? elements : 1, sizeof(wasm_rt_##type##_t));   \
    if (!table->data)                                                            \
      abort();                                                                   \
  }                                                                              \
  void wasm_rt_free_##type##_table(wasm_rt_##type##_table_t* table) {            \
    free(table->data);                                                           \
    table->data = NULL;                                                          \
    table->size = 0;                                                             \
  }                                                                              \
  uint32_t wasm_rt_grow_##type##_table(wasm_rt_##type##_table_t* table,          \
                                       uint32_t delta, wasm_rt_##type##_t init) { \
    uint32_t old = table->size;                                                  \
    uint64_t n = (uint64_t)old + delta;                                          \
    if (n > table->max_size)                                                     \
      return UINT32_MAX;                                                         \
    if (delta == 0)                                                              \
      return old;                                                                \
    wasm_rt_##type##_t* data = realloc(table->data, n * sizeof *data);           \
    if (!data)                                                                   \
      return UINT32_MAX;                                                         \
    for (uint64_t i = old; i < n; i++)                                           \
      data[i] = init;                                                            \
    table->data = data;                                                          \
    table->size = (uint32_t)n;                                                   \
    return old;                                                                  \
  }

DEFINE_TABLE_OPS(funcref)
DEFINE_TABLE_OPS(externref)

const char* wasm_rt_strerror(wasm_rt_trap_t trap) {
  switch (trap) {
    case WASM_RT_TRAP_NONE: return "No error";
    case WASM_RT_TRAP_OOB: return "Out-of-bounds access in linear memory or a table";
    case WASM_RT_TRAP_INT_OVERFLOW: return "Integer overflow on divide or truncation";
    case WASM_RT_TRAP_DIV_BY_ZERO: return "Integer divide by zero";
    case WASM_RT_TRAP_INVALID_CONVERSION: return "Conversion from NaN to integer";
    case WASM_RT_TRAP_UNREACHABLE: return "Unreachable instruction executed";
    case WASM_RT_TRAP_CALL_INDIRECT: return "Invalid call_indirect";
    case WASM_RT_TRAP_UNCAUGHT_EXCEPTION: return "Uncaught exception";
#if !WASM_RT_MERGED_OOB_AND_EXHAUSTION_TRAPS
    case WASM_RT_TRAP_EXHAUSTION: return "Call stack exhausted";
#endif
  }
  return "invalid trap code";
}
