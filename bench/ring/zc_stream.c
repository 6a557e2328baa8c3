/*
 * zc_stream: see zc_stream.h.  Each direction of a circuit is a ring.  A
 * write reserves free space in our send ring, lets `fill` write the bytes
 * there and commits them; a read peeks at the bytes waiting in our receive
 * ring, lets `use` read them there and releases them.  No buffer in between.
 * A span that wraps around the end of the ring comes as two iovecs.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <switchboard/zerocopy.h>

#include "zc_stream.h"

#define BOUNCE (64 * 1024)
/* Commit and release at most this much at a time: a sender that filled the
 * whole ring before committing would leave the receiver idle meanwhile (and
 * the other way round), halving throughput for messages as large as the ring. */
#define BATCH (64 * 1024)

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

void zcs_init(struct zcs *s, int fd)
{
	*s = (struct zcs){ .fd = fd };
}

void zcs_free(struct zcs *s)
{
	free(s->bounce);
	s->bounce = NULL;
}

/* After a zero-copy call failed: if the fd is simply not a circuit, use the socket API from now on. */
static int fall_back(struct zcs *s)
{
	if (errno != EOPNOTSUPP && errno != ENOTSOCK)
		return 0;
	int why = errno;
	s->bounce = malloc(BOUNCE);
	if (!s->bounce)
		return 0;
	s->bounce_len = BOUNCE;
	s->fallback = why;
	return 1;
}

static int write_copy(struct zcs *s, size_t len, zcs_fill_fn *fill, void *arg)
{
	while (len > 0) {
		size_t chunk = min_size(len, s->bounce_len);
		fill(arg, s->bounce, chunk);
		for (size_t done = 0; done < chunk;) {
			ssize_t n = send(s->fd, s->bounce + done, chunk - done, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -1;
			done += (size_t)n;
		}
		len -= chunk;
	}
	return 0;
}

/* The next contiguous piece (at most n bytes) of a span, which moves past it; its length. */
static size_t span_next(struct zcs_span *sp, size_t n, void **base)
{
	struct iovec *v = &sp->iov[0];
	if (v->iov_len == 0 && sp->cnt == 2) { /* on to the part after the wrap */
		sp->iov[0] = sp->iov[1];
		sp->cnt = 1;
	}
	size_t k = min_size(v->iov_len, n);
	*base = v->iov_base;
	v->iov_base = (char *)v->iov_base + k;
	v->iov_len -= k;
	sp->left -= k;
	return k;
}

/*
 * Reserves once and commits per chunk: a reservation is committed in pieces
 * (zerocopy.h), so small messages cost one call each, not two.
 */
int zcs_write(struct zcs *s, size_t len, zcs_fill_fn *fill, void *arg)
{
	while (len > 0 && !s->fallback) {
		if (s->tx.left == 0) {
			ssize_t room = sb_zc_send_reserve(s->fd, 1, s->tx.iov, &s->tx.cnt, 0); /* waits for room */
			if (room < 0) {
				if (errno == EINTR)
					continue;
				if (fall_back(s))
					break;
				return -1;
			}
			s->tx.left = (size_t)room;
		}
		size_t n = min_size(min_size(s->tx.left, len), BATCH);
		for (size_t left = n; left > 0;) {
			void *at;
			size_t k = span_next(&s->tx, left, &at);
			fill(arg, at, k);
			left -= k;
		}
		if (sb_zc_send_commit(s->fd, n) < 0) {
			s->tx.left = 0;
			return -1;
		}
		len -= n;
	}
	return len > 0 ? write_copy(s, len, fill, arg) : 0;
}

static ssize_t read_copy(struct zcs *s, size_t len, zcs_use_fn *use, void *arg)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(s->fd, s->bounce, min_size(len - got, s->bounce_len), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break; /* EOF */
		use(arg, s->bounce, (size_t)n);
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* Peeks once and releases per chunk, as zcs_write commits. */
ssize_t zcs_read(struct zcs *s, size_t len, zcs_use_fn *use, void *arg)
{
	size_t got = 0;
	while (got < len && !s->fallback) {
		if (s->rx.left == 0) {
			ssize_t avail = sb_zc_recv_peek(s->fd, s->rx.iov, &s->rx.cnt, 0); /* waits for data */
			if (avail < 0) {
				if (errno == EINTR)
					continue;
				if (fall_back(s))
					break;
				return -1;
			}
			if (avail == 0)
				return (ssize_t)got; /* EOF: the peer shut down writing */
			s->rx.left = (size_t)avail;
		}
		size_t n = min_size(min_size(s->rx.left, len - got), BATCH);
		for (size_t left = n; left > 0;) {
			void *at;
			size_t k = span_next(&s->rx, left, &at);
			use(arg, at, k);
			left -= k;
		}
		if (sb_zc_recv_release(s->fd, n) < 0) {
			s->rx.left = 0;
			return -1;
		}
		got += n;
	}
	if (got < len && s->fallback) {
		ssize_t more = read_copy(s, len - got, use, arg);
		if (more < 0)
			return -1;
		got += (size_t)more;
	}
	return (ssize_t)got;
}
