/*
 * The harness around the socket under test.  Stream: a listener that
 * accepts, a listener whose accept queue is full, a port held without
 * sharing and one held with SO_REUSEADDR.  Datagram: a peer, a stranger and
 * the same two held ports.  Events (the peer sends, closes, resets …) act on
 * these sockets.
 */
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <time.h>
#include <unistd.h>

int sbv_harness_fd(int fd)
{
	if (fd < 0 || fd >= SBV_HARNESS_FD_BASE)
		return fd;
	int high = fcntl(fd, F_DUPFD_CLOEXEC, SBV_HARNESS_FD_BASE);
	int saved = errno;
	close(fd);
	errno = saved;
	return high;
}

static bool fail(struct sbv_ctx *c, const char *what)
{
	snprintf(c->harness_error, sizeof c->harness_error, "%s: %s", what, strerror(errno));
	return false;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A harness socket bound to (kind, port); listening when backlog >= 0. */
static int harness_socket(struct sbv_ctx *c, unsigned kind, int port, bool reuse, int backlog)
{
	int fd = sbv_harness_fd(socket(c->domain, c->type | SOCK_CLOEXEC, 0));
	if (fd < 0)
		return -1;
	int one = 1, zero = 0;
	if (reuse)
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* A v6 wildcard listener also takes v4-mapped connects. */
	if (c->domain == AF_INET6 && kind == SBV_ADDR_ANY)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
	struct sockaddr_storage ss;
	socklen_t len = sbv_make_addr(c->domain, kind, port, &ss);
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 || (backlog >= 0 && listen(fd, backlog) < 0)) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

static bool wait_fd(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };
	return poll(&p, 1, 2000) == 1;
}

int sbv_harness_setup(struct sbv_ctx *c)
{
	c->listener = c->full_listener = c->full_client = c->peer = c->stranger = -1;
	c->taken = c->shared = -1;
	c->nclients = 0;
	c->next_client = 0;
	c->old_listener = -1;
	c->next_tag = 1;

	c->taken = harness_socket(c, SBV_ADDR_ANY, SBV_PORT_TAKEN, false, c->type == SOCK_STREAM ? 8 : -1);
	if (c->taken < 0)
		return fail(c, "hold the taken port"), -1;
	c->shared = harness_socket(c, SBV_ADDR_ANY, SBV_PORT_SHARED, true, -1);
	if (c->shared < 0)
		return fail(c, "hold the shared port"), -1;

	if (c->type == SOCK_STREAM) {
		c->listener = harness_socket(c, SBV_ADDR_ANY, SBV_PORT_PEER, true, 64);
		if (c->listener < 0 || fcntl(c->listener, F_SETFL, O_NONBLOCK) < 0)
			return fail(c, "listen at the peer port"), -1;
		/* Backlog 0 admits one connection; with it queued, further SYNs are dropped. */
		c->full_listener = harness_socket(c, SBV_ADDR_LOOPBACK, SBV_PORT_FULL, true, 0);
		if (c->full_listener < 0)
			return fail(c, "listen at the full port"), -1;
		c->full_client = sbv_harness_fd(socket(c->domain, SOCK_STREAM | SOCK_CLOEXEC, 0));
		struct sockaddr_storage ss;
		socklen_t len = sbv_make_addr(c->domain, SBV_ADDR_LOOPBACK, SBV_PORT_FULL, &ss);
		if (c->full_client < 0 || connect(c->full_client, (struct sockaddr *)&ss, len) < 0)
			return fail(c, "fill the full listener's queue"), -1;
	} else {
		c->peer = harness_socket(c, SBV_ADDR_LOOPBACK, SBV_PORT_PEER, false, -1);
		c->stranger = harness_socket(c, SBV_ADDR_LOOPBACK, SBV_PORT_STRANGER, false, -1);
		if (c->peer < 0 || c->stranger < 0)
			return fail(c, "bind the peer and stranger"), -1;
	}
	return 0;
}

void sbv_harness_teardown(struct sbv_ctx *c)
{
	close_fd(&c->listener);
	close_fd(&c->full_listener);
	close_fd(&c->full_client);
	close_fd(&c->peer);
	close_fd(&c->stranger);
	close_fd(&c->taken);
	close_fd(&c->shared);
	close_fd(&c->old_listener);
	for (unsigned i = 0; i < c->nclients; i++)
		close_fd(&c->clients[i]);
}

void sbv_harness_accepted(struct sbv_ctx *c, bool follow)
{
	if (c->next_client >= c->nclients)
		return;
	int client = c->clients[c->next_client];
	c->clients[c->next_client++] = -1;
	if (!follow) {
		close(client);
		return;
	}
	close_fd(&c->peer);
	c->peer = client;
	c->peer_tx_off = 0;
	c->rx_off = 0;
}

bool sbv_harness_accept_peer(struct sbv_ctx *c)
{
	close_fd(&c->peer);
	c->peer_tx_off = 0;
	c->rx_off = 0;
	if (!wait_fd(c->listener, POLLIN))
		return errno = ETIMEDOUT, fail(c, "accept the peer side (nothing queued)");
	c->peer = sbv_harness_fd(accept4(c->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
	return c->peer >= 0 ? true : fail(c, "accept the peer side");
}

/* Where the socket under test can be reached: its own address, loopback if it is bound to the wildcard. */
static bool sut_address(struct sbv_ctx *c, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof *ss;
	if (getsockname(c->sut, (struct sockaddr *)ss, len) < 0)
		return fail(c, "getsockname of the socket under test");
	unsigned kind;
	int port;
	sbv_classify_addr(ss, &kind, &port);
	if (kind == SBV_ADDR_ANY)
		*len = sbv_make_addr(c->domain, SBV_ADDR_LOOPBACK, port, ss);
	return true;
}

static bool peer_send(struct sbv_ctx *c, int from, uint32_t len)
{
	unsigned char buf[4096];
	if (len > sizeof buf)
		len = sizeof buf;
	if (c->type == SOCK_STREAM) {
		if (c->peer < 0)
			return errno = ENOTCONN, fail(c, "peer send (no peer)");
		for (uint32_t i = 0; i < len; i++)
			buf[i] = sbv_pattern(c->peer_tx_off + i);
		ssize_t n = send(c->peer, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n != (ssize_t)len)
			return fail(c, "peer send");
		c->peer_tx_off += len;
		return true;
	}
	struct sockaddr_storage ss;
	socklen_t sl;
	if (!sut_address(c, &ss, &sl))
		return false;
	memset(buf, c->next_tag, len);
	c->next_tag++;
	if (sendto(from, buf, len, MSG_DONTWAIT, (struct sockaddr *)&ss, sl) != (ssize_t)len)
		return fail(c, "send a datagram to the socket under test");
	return true;
}

static bool peer_connect(struct sbv_ctx *c)
{
	if (c->nclients == SBV_MAX_CLIENTS)
		return errno = EMFILE, fail(c, "too many harness clients");
	struct sockaddr_storage ss;
	socklen_t len;
	if (!sut_address(c, &ss, &len))
		return false;
	int fd = sbv_harness_fd(socket(c->domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
	if (fd < 0)
		return fail(c, "client socket");
	if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
		int saved = errno;
		close(fd);
		errno = saved;
		return fail(c, "connect to the socket under test");
	}
	c->clients[c->nclients++] = fd;
	return true;
}

/* Our writes until the send buffer refuses more: the peer reads nothing meanwhile. */
static bool fill(struct sbv_ctx *c)
{
	static unsigned char chunk[65536];
	size_t total = 0;
	for (;;) {
		ssize_t n = send(c->sut, chunk, sizeof chunk, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EAGAIN && total > 0)
				return true;
			return fail(c, "fill the send buffer");
		}
		total += (size_t)n;
	}
}

/* The peer reads everything until our send queue is empty. */
static bool drain(struct sbv_ctx *c)
{
	static unsigned char buf[65536];
	for (int round = 0; round < 20000; round++) {
		while (recv(c->peer, buf, sizeof buf, MSG_DONTWAIT) > 0) {
		}
		int outq = 0;
		if (ioctl(c->sut, SIOCOUTQ, &outq) < 0)
			return fail(c, "SIOCOUTQ");
		if (outq == 0)
			return true;
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	return errno = ETIMEDOUT, fail(c, "drain: our send queue never emptied");
}

bool sbv_harness_event(struct sbv_ctx *c, const struct sbv_step *s)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	switch (s->op) {
	case SBV_OP_PEER_CONNECT:
		return peer_connect(c);
	case SBV_OP_PEER_SEND:
		return peer_send(c, c->peer, s->len);
	case SBV_OP_STRANGER_SEND:
		return peer_send(c, c->stranger, s->len);
	case SBV_OP_PEER_SHUT_WR:
		return shutdown(c->peer, SHUT_WR) == 0 ? true : fail(c, "peer shutdown(SHUT_WR)");
	case SBV_OP_PEER_CLOSE:
		close_fd(&c->peer);
		return true;
	case SBV_OP_PEER_RESET:
		if (setsockopt(c->peer, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
			return fail(c, "peer SO_LINGER");
		close_fd(&c->peer);
		return true;
	case SBV_OP_FILL:
		return fill(c);
	case SBV_OP_DRAIN:
		return drain(c);
	default:
		errno = EINVAL;
		return fail(c, "unknown event");
	}
}
