/*
 * sb-zc-stream: an example of Switchboard's zero-copy API.
 *
 * Two processes share a stream socket.  The parent streams --bytes bytes of a
 * known pattern to the child (one thread writes) and checks what comes back
 * (another thread reads); the child echoes everything it receives.  On a
 * circuit every byte is written and read in place in the shared rings (the
 * child's echo copies once, ring to ring); on any other socket the same code
 * falls back to send()/recv() (zc_stream.c).
 *
 *   sb-zc-stream [--fallback] [--bytes N] [--chunk N]
 *
 * Without --fallback the socket pair is a circuit from the circuit library
 * (until the operator hands out circuits for connect()/accept()); with it, a
 * plain AF_UNIX socketpair.  Prints one line and exits 0 if every byte came
 * back intact.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "zc_stream.h"

/* How to get a circuit pair today (the only call outside <switchboard/zerocopy.h>). */
int sb_circuit_socketpair(int type, int sv[2]);

/* ---- the pattern: byte i of the stream ---- */
static unsigned char pattern(uint64_t i)
{
	return (unsigned char)(i ^ (i >> 8) ^ (i >> 16) ^ 0x5a);
}

struct cursor {
	uint64_t off;  /* stream offset so far */
	uint64_t bad;  /* first offset that differed, + 1 */
};

static void fill_pattern(void *arg, void *dst, size_t n)
{
	struct cursor *c = arg;
	unsigned char *p = dst;
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(c->off + i);
	c->off += n;
}

static void check_pattern(void *arg, const void *src, size_t n)
{
	struct cursor *c = arg;
	const unsigned char *p = src;
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(c->off + i) && !c->bad)
			c->bad = c->off + i + 1;
	c->off += n;
}

/* ---- the child: echo, ring to ring ---- */
struct echo {
	struct zcs *out;
	const unsigned char *src;
};

static void copy_from(void *arg, void *dst, size_t n)
{
	struct echo *e = arg;
	memcpy(dst, e->src, n);
	e->src += n;
}

static void echo_span(void *arg, const void *src, size_t n)
{
	struct echo *e = arg;
	e->src = src;
	if (zcs_write(e->out, n, copy_from, e) < 0) { /* from our receive ring into our send ring */
		perror("sb-zc-stream: echo write");
		exit(1);
	}
}

static int echo(int fd, uint64_t bytes, size_t chunk)
{
	struct zcs in, out; /* one per direction: each keeps its own fallback buffer */
	zcs_init(&in, fd);
	zcs_init(&out, fd);
	struct echo e = { .out = &out };
	for (uint64_t done = 0; done < bytes;) {
		size_t want = bytes - done < chunk ? (size_t)(bytes - done) : chunk;
		ssize_t n = zcs_read(&in, want, echo_span, &e);
		if (n <= 0) {
			fprintf(stderr, "sb-zc-stream: echo read: %s\n", n < 0 ? strerror(errno) : "early EOF");
			return 1;
		}
		done += (uint64_t)n;
	}
	zcs_free(&in);
	zcs_free(&out);
	return 0;
}

/* ---- the parent: one thread writes, the other reads back ---- */
struct writer {
	struct zcs *s;
	uint64_t bytes;
	size_t chunk;
	int err;
};

static void *write_all(void *arg)
{
	struct writer *w = arg;
	struct cursor c = { 0, 0 };
	while (c.off < w->bytes && !w->err) {
		size_t n = w->bytes - c.off < w->chunk ? (size_t)(w->bytes - c.off) : w->chunk;
		if (zcs_write(w->s, n, fill_pattern, &c) < 0)
			w->err = errno;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int fallback = 0;
	uint64_t bytes = 64u << 20;
	size_t chunk = 65536;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--fallback") == 0)
			fallback = 1;
		else if (strcmp(argv[i], "--bytes") == 0 && i + 1 < argc)
			bytes = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--chunk") == 0 && i + 1 < argc && atol(argv[i + 1]) > 0)
			chunk = (size_t)atol(argv[++i]);
		else {
			fprintf(stderr, "usage: sb-zc-stream [--fallback] [--bytes N] [--chunk N]\n");
			return 2;
		}
	}

	int sv[2];
	int rc = fallback ? socketpair(AF_UNIX, SOCK_STREAM, 0, sv) : sb_circuit_socketpair(SOCK_STREAM, sv);
	if (rc != 0) {
		fprintf(stderr, "sb-zc-stream: socket pair: %s\n", strerror(rc < 0 && rc != -1 ? -rc : errno));
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("sb-zc-stream: fork");
		return 1;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(echo(sv[1], bytes, chunk));
	}
	close(sv[1]);

	struct zcs out, in; /* the writer thread's and the reader's */
	zcs_init(&out, sv[0]);
	zcs_init(&in, sv[0]);
	struct writer w = { &out, bytes, chunk, 0 };
	pthread_t t;
	if (pthread_create(&t, NULL, write_all, &w) != 0) {
		fprintf(stderr, "sb-zc-stream: pthread_create failed\n");
		return 1;
	}
	struct cursor back = { 0, 0 };
	while (back.off < bytes) {
		ssize_t n = zcs_read(&in, bytes - back.off < chunk ? (size_t)(bytes - back.off) : chunk, check_pattern, &back);
		if (n <= 0) {
			fprintf(stderr, "sb-zc-stream: read: %s\n", n < 0 ? strerror(errno) : "early EOF");
			return 1;
		}
	}
	pthread_join(t, NULL);
	int status;
	waitpid(pid, &status, 0);
	if (w.err) {
		fprintf(stderr, "sb-zc-stream: write: %s\n", strerror(w.err));
		return 1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "sb-zc-stream: the echo process failed\n");
		return 1;
	}
	if (back.bad) {
		fprintf(stderr, "sb-zc-stream: byte %llu came back wrong\n", (unsigned long long)back.bad - 1);
		return 1;
	}
	printf("sb-zc-stream: %llu bytes each way intact over %s\n", (unsigned long long)bytes,
	       in.fallback ? (in.fallback == EOPNOTSUPP ? "send()/recv() (fallback: EOPNOTSUPP, not a circuit)"
						      : "send()/recv() (fallback: ENOTSOCK)")
			  : "a circuit, in place (zero-copy)");
	zcs_free(&in);
	zcs_free(&out);
	return 0;
}
