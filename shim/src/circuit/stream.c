/*
 * Stream mode: a byte stream per direction, with TCP's semantics for
 * partial writes, EOF, WAITALL and PEEK.
 */
#include <errno.h>
#include <stdatomic.h>

#include "internal.h"
#include "iov.h"

/*
 * During a long copy, publish at least every 64 KiB so the peer can start
 * reading while we still copy (each publication costs one fence).
 */
#define SB_PUBLISH_CHUNK ((size_t)64 * 1024)

/* A call that made progress reports it (the error comes with the next call), except a broken circuit. */
static ssize_t sb_partial(size_t done, int err)
{
	return done > 0 && err != -EPROTO ? (ssize_t)done : err;
}

static size_t sb_min(size_t a, uint64_t b)
{
	return (uint64_t)a < b ? a : (size_t)b;
}

ssize_t sb_circuit_send(struct sb_circuit *c, const struct iovec *iov, int iovcnt, unsigned flags,
			const struct sb_wait *w)
{
	if (c->mode != SB_CIRCUIT_STREAM)
		return -EOPNOTSUPP;
	size_t total;
	int rc = sb_iov_total(iov, iovcnt, &total);
	if (rc < 0)
		return rc;
	rc = sb_tx_state(c);
	if (rc < 0)
		return rc;
	if (total == 0)
		return 0;
	struct sb_ring_end *r = &c->tx;
	r->span = 0; /* a copy-path send ends any zero-copy reservation */
	struct sb_iov_cursor cur = sb_iov_cursor(iov, iovcnt);
	size_t sent = 0;
	bool have_deadline = false;
	int64_t deadline = -1;
	for (;;) {
		uint64_t room = sb_ring_writable(r);
		if (room < total - sent) {
			if (sb_ring_refresh_cons(r, false) < 0)
				return sb_circuit_fail(c, EPROTO);
			room = sb_ring_writable(r);
		}
		if (room > 0) {
			size_t n = sb_min(sb_min(total - sent, room), SB_PUBLISH_CHUNK);
			sb_iov_to_ring(&cur, r, r->local, n);
			r->local += n;
			sb_ring_publish_prod(r);
			rc = sb_circuit_notify_data(c);
			if (rc < 0)
				return rc;
			sent += n;
			if (sent == total)
				return (ssize_t)sent;
			continue;
		}
		if (flags & SB_NONBLOCK) {
			rc = !(flags & SB_NOPROBE) && sb_circuit_check_peer_gone(c) ? sb_tx_state(c) : 0;
			return sb_partial(sent, rc < 0 ? rc : -EAGAIN);
		}
		if (!have_deadline) {
			deadline = sb_deadline(w);
			have_deadline = true;
		}
		/* Like TCP (sk_stream_min_wspace), wait for a useful amount of room, not one byte:
		 * trickling a few bytes per hand-off bounces the index lines for nothing. */
		rc = sb_wait(c, SB_WAIT_ROOM, sb_min(total - sent, r->size / 4), w, deadline);
		int state = sb_tx_state(c);
		if (state < 0)
			return sb_partial(sent, state);
		if (rc < 0)
			return sb_partial(sent, rc);
	}
}

ssize_t sb_circuit_recv(struct sb_circuit *c, const struct iovec *iov, int iovcnt, unsigned flags,
			const struct sb_wait *w)
{
	if (c->mode != SB_CIRCUIT_STREAM)
		return -EOPNOTSUPP;
	size_t total;
	int rc = sb_iov_total(iov, iovcnt, &total);
	if (rc < 0)
		return rc;
	int broken = sb_circuit_broken(c);
	if (broken)
		return -broken;
	if (total == 0)
		return 0;
	struct sb_ring_end *r = &c->rx;
	bool peek = (flags & SB_PEEK) != 0;
	if (!peek)
		r->span = 0; /* consuming ends any zero-copy peek */
	struct sb_iov_cursor cur = sb_iov_cursor(iov, iovcnt);
	size_t got = 0;
	bool have_deadline = false;
	int64_t deadline = -1;
	for (;;) {
		uint64_t skip = peek ? got : 0; /* peeking never consumes: later rounds read further on */
		uint64_t avail = sb_ring_readable(r) - skip;
		if (avail < total - got) {
			if (sb_ring_refresh_prod(r, false) < 0)
				return sb_circuit_fail(c, EPROTO);
			avail = sb_ring_readable(r) - skip;
		}
		if (avail > 0) {
			size_t n = sb_min(total - got, avail);
			sb_iov_from_ring(&cur, r, r->local + skip, n);
			if (!peek) {
				r->local += n;
				sb_ring_publish_cons(r);
				rc = sb_circuit_notify_room(c);
				if (rc < 0)
					return rc;
			}
			got += n;
			if (got == total || !(flags & SB_WAITALL))
				return (ssize_t)got;
			continue;
		}
		int state = sb_rx_state(c);
		if (state == -EPROTO || sb_circuit_broken(c))
			return sb_partial(got, -sb_circuit_broken(c));
		if (sb_ring_readable(r) > skip)
			continue; /* the final prod, read after FIN / RESET / hang-up, has more */
		if (state == SB_PROD_FIN)
			return (ssize_t)got; /* EOF */
		if (state < 0)
			return sb_partial(got, state);
		if (atomic_load_explicit(&c->shut_rd, memory_order_relaxed))
			return (ssize_t)got; /* our SHUT_RD: EOF once the queue is empty */
		if (flags & SB_NONBLOCK) {
			if (!(flags & SB_NOPROBE) && sb_circuit_check_peer_gone(c))
				continue; /* look at the state again: EOF or ECONNRESET, not EAGAIN */
			return sb_partial(got, -EAGAIN);
		}
		if (!have_deadline) {
			deadline = sb_deadline(w);
			have_deadline = true;
		}
		rc = sb_wait(c, SB_WAIT_DATA, skip + 1, w, deadline);
		if (rc < 0)
			return sb_partial(got, rc);
	}
}
