/*
 * The zero-copy API as a program sees it through libswitchboard.so, either
 * preloaded (--preload: the names resolve in the shim) or dlopen()ed
 * (--dlopen PATH): on fds that are not circuits every call fails with the
 * errno <switchboard/zerocopy.h> promises, so a program can fall back to
 * send()/recv():
 *   a closed fd -> EBADF, a pipe -> ENOTSOCK, a TCP / UDP / AF_UNIX socket -> EOPNOTSUPP.
 * The program does not link the API: it finds it at run time, as a program
 * that wants to work with and without the shim would.
 */
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static int (*is_circuit)(int);
static ssize_t (*send_reserve)(int, size_t, struct iovec[2], int *, int);
static int (*send_commit)(int, size_t);
static ssize_t (*recv_peek)(int, struct iovec[2], int *, int);
static int (*recv_release)(int, size_t);
static int failures;

static void *find(void *handle, const char *name)
{
	void *f = dlsym(handle, name);
	Dl_info info;
	if (f == NULL || dladdr(f, &info) == 0 || info.dli_fname == NULL || strstr(info.dli_fname, "libswitchboard") == NULL) {
		printf("FAIL %s: not found in libswitchboard.so\n", name);
		failures++;
		return NULL;
	}
	return f;
}

static void expect(const char *what, const char *call, long rc, long want_rc, int want_errno)
{
	int e = errno;
	if (rc != want_rc || e != want_errno) {
		printf("FAIL %s: %s returned %ld errno %s, want %ld errno %s\n", what, call, rc, strerror(e), want_rc,
		       strerror(want_errno));
		failures++;
	}
}

/* Every call on `fd` fails with `want`. */
static void check_fd(const char *what, int fd, int want)
{
	struct iovec iov[2];
	int n;
	errno = 0;
	expect(what, "sb_zc_is_circuit", is_circuit(fd), 0, want);
	errno = 0;
	expect(what, "sb_zc_send_reserve", (long)send_reserve(fd, 1, iov, &n, 0), -1, want);
	errno = 0;
	expect(what, "sb_zc_send_commit", send_commit(fd, 0), -1, want);
	errno = 0;
	expect(what, "sb_zc_recv_peek", (long)recv_peek(fd, iov, &n, MSG_DONTWAIT), -1, want);
	errno = 0;
	expect(what, "sb_zc_recv_release", recv_release(fd, 0), -1, want);
	printf("%-28s -> %s\n", what, strerror(want));
}

int main(int argc, char **argv)
{
	void *handle = RTLD_DEFAULT;
	if (argc == 3 && strcmp(argv[1], "--dlopen") == 0) {
		handle = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
		if (handle == NULL) {
			printf("FAIL dlopen: %s\n", dlerror());
			return 1;
		}
	} else if (argc != 2 || strcmp(argv[1], "--preload") != 0) {
		fprintf(stderr, "usage: %s --preload | --dlopen PATH\n", argv[0]);
		return 2;
	}
	is_circuit = (int (*)(int))find(handle, "sb_zc_is_circuit");
	send_reserve = (ssize_t(*)(int, size_t, struct iovec[2], int *, int))find(handle, "sb_zc_send_reserve");
	send_commit = (int (*)(int, size_t))find(handle, "sb_zc_send_commit");
	recv_peek = (ssize_t(*)(int, struct iovec[2], int *, int))find(handle, "sb_zc_recv_peek");
	recv_release = (int (*)(int, size_t))find(handle, "sb_zc_recv_release");
	if (failures)
		return 1;

	int p[2];
	if (pipe(p) < 0)
		return 1;
	int tcp = socket(AF_INET, SOCK_STREAM, 0);
	int udp = socket(AF_INET, SOCK_DGRAM, 0);
	int unix_pair[2];
	if (tcp < 0 || udp < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair) < 0)
		return 1;

	/* A connected TCP socket over loopback, too: connected or not, it is not a circuit. */
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof addr;
	int connected = -1;
	if (bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0 && listen(listener, 1) == 0 &&
	    getsockname(listener, (struct sockaddr *)&addr, &len) == 0) {
		connected = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(connected, (struct sockaddr *)&addr, sizeof addr) < 0)
			connected = -1;
	}

	int closed = dup(p[0]);
	close(closed);
	check_fd("closed fd", closed, EBADF);
	check_fd("fd -1", -1, EBADF);
	check_fd("pipe", p[0], ENOTSOCK);
	check_fd("TCP socket", tcp, EOPNOTSUPP);
	if (connected >= 0)
		check_fd("connected TCP socket", connected, EOPNOTSUPP);
	else {
		printf("FAIL: could not connect over loopback\n");
		failures++;
	}
	check_fd("UDP socket", udp, EOPNOTSUPP);
	check_fd("AF_UNIX socket", unix_pair[0], EOPNOTSUPP);
	printf("%s\n", failures ? "FAILED" : "zero-copy API: every non-circuit fd refused with the documented errno");
	return failures ? 1 : 0;
}
