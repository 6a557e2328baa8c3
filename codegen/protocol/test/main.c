/*
 * sb_protocol_test [--fuzz ROUNDS] [--seed N] [--vectors FILE] [--only-golden]
 * Runs the unit tests (unless --only-golden), then the fuzz loop and the
 * golden vectors when asked.  Exit status 0 when every check passed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tests.h"

static void usage(void) {
  fprintf(stderr, "usage: sb_protocol_test [--fuzz ROUNDS] [--seed N] [--vectors FILE] [--only-golden]\n");
  exit(2);
}

int main(int argc, char **argv) {
  unsigned long rounds = 0;
  uint64_t seed = 0x5b5b5b5bu;
  const char *vectors = NULL;
  int only_golden = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--fuzz") == 0 && i + 1 < argc) {
      rounds = strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = strtoull(argv[++i], NULL, 0);
    } else if (strcmp(argv[i], "--vectors") == 0 && i + 1 < argc) {
      vectors = argv[++i];
    } else if (strcmp(argv[i], "--only-golden") == 0) {
      only_golden = 1;
    } else {
      usage();
    }
  }
  if (only_golden && !vectors) usage();

  if (!only_golden) sb_test_unit();
  if (rounds > 0) sb_test_fuzz(rounds, seed);
  if (vectors) sb_test_golden(vectors);

  printf("%d checks, %d failed\n", sb_test_checks, sb_test_failures);
  return sb_test_failures == 0 ? 0 : 1;
}
