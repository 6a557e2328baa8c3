#include "check.h"

#include <stdio.h>
#include <stdlib.h>

int sb_test_failures;
int sb_test_checks;

bool sb_test_check(bool ok, const char *file, int line, const char *cond, const char *what) {
  sb_test_checks++;
  if (ok) return true;
  sb_test_failures++;
  fprintf(stderr, "%s:%d: FAILED %s [%s]\n", file, line, cond, what ? what : "");
  if (sb_test_failures >= SB_TEST_MAX_FAILURES) {
    fprintf(stderr, "too many failures, stopping\n");
    exit(1);
  }
  return false;
}
