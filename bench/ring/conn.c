/* One side of a connection, whatever the transport: dispatch and buffers. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static const char *const names[T_COUNT] = { "tcp", "unix", "copy", "zerocopy" };

const char *transport_name(enum transport t)
{
	return names[t];
}

int transport_parse(const char *name)
{
	for (int t = 0; t < T_COUNT; t++)
		if (strcmp(name, names[t]) == 0)
			return t;
	return -1;
}

bool transport_available(enum transport t)
{
	return t >= 0 && t < T_COUNT;
}

void pair_make(enum transport t, const struct pair_opts *o, int fds[2])
{
	if (t == T_TCP || t == T_UNIX)
		kernel_pair(t, o, fds);
	else
		circuit_pair(o, fds);
}

void pair_drop(enum transport t, const int fds[2])
{
	if (t == T_TCP || t == T_UNIX) {
		close(fds[0]);
		close(fds[1]);
	} else {
		circuit_drop(fds);
	}
}

void conn_open(struct conn *c, enum transport t, const struct pair_opts *o, const int fds[2], int side, size_t msg)
{
	*c = (struct conn){ .t = t, .fd = fds[side] };
	if (t == T_TCP || t == T_UNIX)
		close(fds[1 - side]);
	else
		circuit_open(c, o, fds, side);
	if (t == T_ZC) {
		zc_conn_open(c);
		return;
	}
	c->buf_len = msg < 8 ? 8 : msg;
	if (posix_memalign((void **)&c->buf, 64, c->buf_len) != 0)
		dief("out of memory");
	memset(c->buf, 0, c->buf_len); /* fault it in before the clock starts */
}

void conn_send(struct conn *c, size_t len)
{
	switch (c->t) {
	case T_TCP:
	case T_UNIX:
		kernel_send(c, len);
		break;
	case T_COPY:
		circuit_send(c, len);
		break;
	default:
		zc_conn_send(c, len);
	}
}

void conn_recv(struct conn *c, size_t len)
{
	switch (c->t) {
	case T_TCP:
	case T_UNIX:
		kernel_recv(c, len);
		break;
	case T_COPY:
		circuit_recv(c, len);
		break;
	default:
		zc_conn_recv(c, len);
	}
}
