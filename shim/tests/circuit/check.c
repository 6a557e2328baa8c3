/* The runner behind check.h: one forked process per test, with a time limit. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define SB_MAX_TESTS 256
#define SB_TEST_SECONDS 60

static struct {
	const char *name;
	sb_test_fn fn;
} tests[SB_MAX_TESTS];
static int test_count;

void sb_test_register(const char *name, sb_test_fn fn)
{
	if (test_count == SB_MAX_TESTS) {
		fprintf(stderr, "too many tests\n");
		abort();
	}
	tests[test_count].name = name;
	tests[test_count].fn = fn;
	test_count++;
}

void sb_check_failed(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: CHECK(%s) failed\n", file, line, what);
	fflush(stderr);
	_exit(1);
}

void sb_check_failed_eq(const char *file, int line, const char *a, const char *b, long long va, long long vb)
{
	fprintf(stderr, "%s:%d: CHECK_EQ(%s, %s) failed: %lld != %lld\n", file, line, a, b, va, vb);
	fflush(stderr);
	_exit(1);
}

static bool selected(const char *name, int argc, char **argv)
{
	if (argc <= 1)
		return true;
	for (int i = 1; i < argc; i++)
		if (strstr(name, argv[i]) != NULL)
			return true;
	return false;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	int run = 0, failed = 0;
	for (int i = 0; i < test_count; i++) {
		if (!selected(tests[i].name, argc, argv))
			continue;
		run++;
		fflush(stdout);
		double t0 = seconds();
		pid_t pid = fork();
		if (pid == 0) {
			alarm(SB_TEST_SECONDS);
			tests[i].fn();
			fflush(stdout);
			_exit(0);
		}
		int status = 0;
		waitpid(pid, &status, 0);
		double ms = (seconds() - t0) * 1e3;
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("PASS %-52s %8.1f ms\n", tests[i].name, ms);
		} else {
			failed++;
			if (WIFSIGNALED(status))
				printf("FAIL %-52s killed by signal %d%s\n", tests[i].name, WTERMSIG(status),
				       WTERMSIG(status) == SIGALRM ? " (time limit)" : "");
			else
				printf("FAIL %-52s exit %d\n", tests[i].name, WEXITSTATUS(status));
		}
	}
	printf("%d test(s), %d failed\n", run, failed);
	return failed == 0 && run > 0 ? 0 : 1;
}
