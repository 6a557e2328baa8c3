/* Timing, errors and the server child's life cycle. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void die(const char *what)
{
	fprintf(stderr, "sb-bench-connect: %s: %s\n", what, strerror(errno));
	exit(1);
}

void diex(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("sb-bench-connect: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

pid_t start_server(void (*serve)(const struct run_spec *spec, int ready_fd), const struct run_spec *spec)
{
	int p[2];
	if (pipe(p) < 0)
		die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(p[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the client */
		serve(spec, p[1]);
		_exit(0);
	}
	close(p[1]);
	wait_ready(p[0]);
	close(p[0]);
	return pid;
}

void wait_ready(int fd)
{
	char c;
	if (read(fd, &c, 1) != 1)
		diex("the server child did not start");
}

void reap(pid_t pid)
{
	int st;
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		diex("the server child failed (status %d)", st);
}
