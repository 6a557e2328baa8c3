#include "debug.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sb_libc.h"

static int sb_debug_state = -1; /* -1: not read yet */

bool sb_debug_enabled(void)
{
	if (sb_debug_state < 0) {
		const char *v = getenv("SWITCHBOARD_DEBUG");
		sb_debug_state = v != NULL && v[0] != '\0' && v[0] != '0';
	}
	return sb_debug_state;
}

void sb_debug_print(const char *fmt, ...)
{
	int saved = errno;
	char line[512];
	int n = snprintf(line, sizeof line, "switchboard[%d]: ", (int)getpid());
	va_list ap;
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof line)
		n += vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n >= sizeof line - 1)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* One write, straight to the kernel: stdio may be in any state, and 2 may be anything. */
	(void)libc_write(STDERR_FILENO, line, (size_t)n);
	errno = saved;
}
