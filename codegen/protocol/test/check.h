/* Minimal test assertions: report and count failures, keep going. */
#ifndef SB_PROTO_TEST_CHECK_H
#define SB_PROTO_TEST_CHECK_H

#include <stdbool.h>

extern int sb_test_failures;
extern int sb_test_checks;

/* Records a failure of `cond` (its text), naming what was being tested (`what`, printf-style detail). */
bool sb_test_check(bool ok, const char *file, int line, const char *cond, const char *what);

#define CHECK(cond, what) sb_test_check((cond), __FILE__, __LINE__, #cond, (what))

/* Stops after this many failures: one broken invariant tends to fail thousands of fuzz rounds. */
#define SB_TEST_MAX_FAILURES 50

#endif
