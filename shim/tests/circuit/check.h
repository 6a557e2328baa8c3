/*
 * A small test harness for the circuit tests: TEST(name) registers a test,
 * the runner (check.c) runs each in its own forked process with a time limit
 * (peer-death tests kill processes; a crash or a hang fails one test, not the
 * run), and CHECK* stop the test at the first failure with file and line.
 *
 *   sb_circuit_unit [substring...]   runs the tests whose names contain one of them
 */
#ifndef SB_CIRCUIT_CHECK_H
#define SB_CIRCUIT_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*sb_test_fn)(void);
void sb_test_register(const char *name, sb_test_fn fn);

#define TEST(name)                                                                                                     \
	static void name(void);                                                                                        \
	__attribute__((constructor)) static void sb_register_##name(void)                                             \
	{                                                                                                              \
		sb_test_register(#name, name);                                                                         \
	}                                                                                                              \
	static void name(void)

_Noreturn void sb_check_failed(const char *file, int line, const char *what);
_Noreturn void sb_check_failed_eq(const char *file, int line, const char *a, const char *b, long long va, long long vb);

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (!(cond))                                                                                           \
			sb_check_failed(__FILE__, __LINE__, #cond);                                                    \
	} while (0)

#define CHECK_EQ(a, b)                                                                                                 \
	do {                                                                                                           \
		long long sb_a_ = (long long)(a), sb_b_ = (long long)(b);                                              \
		if (sb_a_ != sb_b_)                                                                                    \
			sb_check_failed_eq(__FILE__, __LINE__, #a, #b, sb_a_, sb_b_);                                  \
	} while (0)

#endif
