/* Link test (issue 15, defect 9): a C program that uses libwrt_helper.a and
 * a second Rust static library (tests/link/peer, std, panic = unwind).
 * scripts/c-tests links it with the archives in both orders; the link
 * must succeed both ways and both libraries must still work. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "wrt_helper.h"

int peer_catch_panic(int x);

static int passed, failed;

static void check(int ok, const char *what) {
  if (ok) {
    passed++;
  } else {
    failed++;
    printf("FAIL: %s\n", what);
  }
}

int main(void) {
  wrt_memory_t m = 0;
  check(wrt_memory_create(1, 2, 0, &m) == WRT_OK, "wrt_memory_create");
  uint8_t *base = wrt_memory_base(m);
  check(base != NULL, "wrt_memory_base");
  if (base != NULL) {
    check(wrt_memory_fill(m, 10, 0x5a, 6) == WRT_OK, "wrt_memory_fill");
    check(base[9] == 0 && base[10] == 0x5a && base[15] == 0x5a && base[16] == 0,
          "filled bytes");
  }
  check(wrt_memory_destroy(m) == WRT_OK, "wrt_memory_destroy");
  /* The peer's unwinding: a caught panic returns 42. */
  check(peer_catch_panic(-3) == -3, "peer without panic");
  check(peer_catch_panic(1) == 42, "peer catches its panic");
  printf("link-peer: %d passed, %d failed\n", passed, failed);
  return failed != 0;
}
