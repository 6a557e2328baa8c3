/* The server child's life cycle (the rest is bench/common). */
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
		dief("the server child did not start");
}

