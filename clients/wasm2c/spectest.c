/*
 * spectest.c: the "spectest" host module of the WebAssembly spec tests, for
 * modules translated by wasm2c 1.0.32 (which imports by symbol name:
 * Z_spectestZ_<field>). Its memory is allocated with wasm_rt_allocate_memory,
 * so with our runtime it is a helper memory like the modules' own.
 */
#include <stdint.h>
#include <stdio.h>

#include "wasm-rt.h"

struct Z_spectest_instance_t {
  wasm_rt_memory_t memory;
  wasm_rt_funcref_table_t table;
  uint32_t global_i32;
  uint64_t global_i64;
  float global_f32;
  double global_f64;
};

struct Z_spectest_instance_t spectest_instance;

void spectest_init(void) {
  wasm_rt_allocate_memory(&spectest_instance.memory, 1, 2);
  wasm_rt_allocate_funcref_table(&spectest_instance.table, 10, 20);
  spectest_instance.global_i32 = 666;
  spectest_instance.global_i64 = 666;
  spectest_instance.global_f32 = 666.6f;
  spectest_instance.global_f64 = 666.6;
}

void spectest_free(void) {
  wasm_rt_free_memory(&spectest_instance.memory);
  wasm_rt_free_funcref_table(&spectest_instance.table);
}

typedef struct Z_spectest_instance_t S;
void Z_spectestZ_print(S* s) { (void)s; }
void Z_spectestZ_print_i32(S* s, uint32_t a) { (void)s; (void)a; }
void Z_spectestZ_print_i64(S* s, uint64_t a) { (void)s; (void)a; }
void Z_spectestZ_print_f32(S* s, float a) { (void)s; (void)a; }
void Z_spectestZ_print_f64(S* s, double a) { (void)s; (void)a; }
void Z_spectestZ_print_i32_f32(S* s, uint32_t a, float b) { (void)s; (void)a; (void)b; }
void Z_spectestZ_print_f64_f64(S* s, double a, double b) { (void)s; (void)a; (void)b; }
uint32_t* Z_spectestZ_global_i32(S* s) { return &s->global_i32; }
uint64_t* Z_spectestZ_global_i64(S* s) { return &s->global_i64; }
float* Z_spectestZ_global_f32(S* s) { return &s->global_f32; }
double* Z_spectestZ_global_f64(S* s) { return &s->global_f64; }
wasm_rt_funcref_table_t* Z_spectestZ_table(S* s) { return &s->table; }
wasm_rt_memory_t* Z_spectestZ_memory(S* s) { return &s->memory; }
