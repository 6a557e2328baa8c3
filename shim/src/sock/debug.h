/*
 * SWITCHBOARD_DEBUG=1: the shim says on stderr what it decided that a
 * program might wonder about (resets, refused or failed setups, operator
 * errors with their message), one line each, prefixed with the pid.
 */
#ifndef SB_SOCK_DEBUG_H
#define SB_SOCK_DEBUG_H

#include <stdbool.h>

bool sb_debug_enabled(void);
void sb_debug_print(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define sb_debug(...)                          \
	do {                                   \
		if (sb_debug_enabled())        \
			sb_debug_print(__VA_ARGS__); \
	} while (0)

#endif
