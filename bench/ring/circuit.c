/*
 * The circuit transports: pairs from the circuit library (sb_circuit_socketpair,
 * or sb_circuit_pair for a chosen ring size), and the copy path
 * (sb_circuit_send / sb_circuit_recv).  The zero-copy path is the example's
 * zc_stream.c on the same fds.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "circuit/circuit.h"
#include "circuit/fdtab.h"

#include "bench.h"
#include "zc_stream.h"

static const struct sb_wait forever = { .timeout_ns = -1, .sigmask = NULL };

static void check(int rc, const char *what)
{
	if (rc < 0) {
		errno = -rc;
		die(what);
	}
}

void circuit_pair(const struct pair_opts *o, int fds[2])
{
	if (o->ring_size == 0) {
		check(sb_circuit_socketpair(SOCK_STREAM | SOCK_CLOEXEC, fds), "sb_circuit_socketpair");
		return;
	}
	struct sb_circuit_geometry g = { .mode = SB_CIRCUIT_STREAM, .ring_size = { o->ring_size, o->ring_size } };
	struct sb_circuit *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
	if (!a || !b)
		die("calloc");
	check(sb_circuit_pair(&g, a, b, true), "sb_circuit_pair");
	fds[0] = a->endpoint_fd;
	fds[1] = b->endpoint_fd;
	check(sb_fdtab_put(fds[0], a), "sb_fdtab_put");
	check(sb_fdtab_put(fds[1], b), "sb_fdtab_put");
}

/* Forget our copy of an endpoint that belongs to the other process. */
static void drop_end(int fd)
{
	struct sb_circuit *c = sb_fdtab_take(fd);
	if (c) {
		sb_circuit_detach(c);
		free(c);
	}
	close(fd);
}

void circuit_drop(const int fds[2])
{
	drop_end(fds[0]);
	drop_end(fds[1]);
}

void circuit_open(struct conn *c, const struct pair_opts *o, const int fds[2], int side)
{
	drop_end(fds[1 - side]);
	struct sb_circuit *me = sb_fdtab_get(fds[side]);
	if (!me)
		dief("fd %d is not a circuit", fds[side]);
	if (o->sleep) /* no spinning before sleeping (main() also sets SWITCHBOARD_SPIN_NS=0) */
		me->tx.spin_ns = me->rx.spin_ns = 0;
	c->circuit = me;
}

void circuit_send(struct conn *c, size_t len)
{
	payload_fill(c->buf, len, c->off);
	for (size_t done = 0; done < len;) {
		struct iovec iov = { c->buf + done, len - done };
		ssize_t n = sb_circuit_send(c->circuit, &iov, 1, 0, &forever);
		if (n == -EINTR)
			continue;
		check((int)(n < 0 ? n : 0), "sb_circuit_send");
		done += (size_t)n;
	}
	c->off += len;
}

void circuit_recv(struct conn *c, size_t len)
{
	for (size_t done = 0; done < len;) {
		struct iovec iov = { c->buf + done, len - done };
		ssize_t n = sb_circuit_recv(c->circuit, &iov, 1, SB_WAITALL, &forever);
		if (n == -EINTR)
			continue;
		check((int)(n < 0 ? n : 0), "sb_circuit_recv");
		if (n == 0)
			dief("sb_circuit_recv: unexpected EOF");
		done += (size_t)n;
	}
	c->bad |= payload_check(c->buf, len, c->off);
	c->off += len;
}

/* The zero-copy path: zc_stream.c with the same payload work, in place. */
void zc_conn_open(struct conn *c)
{
	struct zcs *z = malloc(sizeof *z);
	if (!z)
		die("malloc");
	zcs_init(z, c->fd);
	c->zc = z;
}

int zc_conn_fallback(const struct conn *c)
{
	return c->zc ? ((const struct zcs *)c->zc)->fallback : 0;
}

static void zc_fill(void *arg, void *dst, size_t n)
{
	struct conn *c = arg;
	payload_fill(dst, n, c->off);
	c->off += n;
}

static void zc_use(void *arg, const void *src, size_t n)
{
	struct conn *c = arg;
	c->bad |= payload_check(src, n, c->off);
	c->off += n;
}

void zc_conn_send(struct conn *c, size_t len)
{
	if (zcs_write(c->zc, len, zc_fill, c) < 0)
		die("zero-copy write");
}

void zc_conn_recv(struct conn *c, size_t len)
{
	ssize_t n = zcs_read(c->zc, len, zc_use, c);
	if (n < 0)
		die("zero-copy read");
	if ((size_t)n < len)
		dief("zero-copy read: unexpected EOF");
}
