/*
 * Zero-copy access to a stream circuit: the caller writes into (reserve,
 * commit) or reads from (peek, release) the ring itself.
 *
 * The spans point into memory the peer can also write: a receiver that
 * parses peeked bytes must treat them as changing under it (copy what it
 * validates), exactly as the copy path does internally.
 */
#include <errno.h>
#include <stdatomic.h>

#include "internal.h"

ssize_t sb_circuit_reserve(struct sb_circuit *c, size_t min, struct iovec iov[2], int *iovcnt, unsigned flags,
			   const struct sb_wait *w)
{
	if (c->mode != SB_CIRCUIT_STREAM)
		return -EOPNOTSUPP;
	struct sb_ring_end *r = &c->tx;
	if (min == 0)
		min = 1;
	if (min > r->size)
		return -EMSGSIZE; /* can never be satisfied */
	int rc = sb_tx_state(c);
	if (rc < 0)
		return rc;
	rc = sb_wait_room(c, min, flags, w);
	if (rc < 0)
		return rc;
	/* All that is free, not just min, re-reading the consumer's index (a line the
	 * peer writes) only when what we know of is under half the ring. */
	if (sb_ring_writable(r) < r->size / 2 && sb_ring_refresh_cons(r, false) < 0)
		return sb_circuit_fail(c, EPROTO);
	r->span = sb_ring_writable(r);
	*iovcnt = sb_ring_spans(r, r->local, r->span, iov);
	return (ssize_t)r->span;
}

int sb_circuit_commit(struct sb_circuit *c, size_t len)
{
	if (c->mode != SB_CIRCUIT_STREAM)
		return -EOPNOTSUPP;
	struct sb_ring_end *r = &c->tx;
	if (len > r->span)
		return -EINVAL;
	if (len == 0) {
		r->span = 0; /* gives the rest up */
		return 0;
	}
	int rc = sb_tx_state(c);
	if (rc < 0) {
		r->span = 0;
		return rc; /* after FIN nothing may be published; a closed or reset peer would never read it */
	}
	r->span -= len; /* the rest stays reserved, right after what was published */
	r->local += len;
	sb_ring_publish_prod(r);
	return sb_circuit_notify_data(c);
}

ssize_t sb_circuit_peek(struct sb_circuit *c, struct iovec iov[2], int *iovcnt, unsigned flags,
			const struct sb_wait *w)
{
	if (c->mode != SB_CIRCUIT_STREAM)
		return -EOPNOTSUPP;
	struct sb_ring_end *r = &c->rx;
	bool have_deadline = false;
	int64_t deadline = -1;
	r->span = 0;
	*iovcnt = 0;
	for (;;) {
		int broken = sb_circuit_broken(c);
		if (broken)
			return -broken;
		/* What we already know is readable is enough; re-read the producer's index only when that is nothing. */
		if (sb_ring_readable(r) > 0)
			break;
		if (sb_ring_refresh_prod(r, false) < 0)
			return sb_circuit_fail(c, EPROTO);
		if (sb_ring_readable(r) > 0)
			break;
		int state = sb_rx_state(c);
		if (sb_circuit_broken(c))
			return -sb_circuit_broken(c);
		if (sb_ring_readable(r) > 0)
			break;
		if (state == SB_PROD_FIN || atomic_load_explicit(&c->shut_rd, memory_order_relaxed))
			return 0; /* EOF */
		if (state < 0)
			return state;
		if (flags & SB_NONBLOCK) {
			if (!(flags & SB_NOPROBE) && sb_circuit_check_peer_gone(c))
				continue;
			return -EAGAIN;
		}
		if (!have_deadline) {
			deadline = sb_deadline(w);
			have_deadline = true;
		}
		int rc = sb_wait(c, SB_WAIT_DATA, 1, w, deadline);
		if (rc < 0)
			return rc;
	}
	r->span = sb_ring_readable(r);
	*iovcnt = sb_ring_spans(r, r->local, r->span, iov);
	return (ssize_t)r->span;
}

int sb_circuit_release(struct sb_circuit *c, size_t len)
{
	if (c->mode != SB_CIRCUIT_STREAM)
		return -EOPNOTSUPP;
	struct sb_ring_end *r = &c->rx;
	int broken = sb_circuit_broken(c);
	if (broken)
		return -broken;
	if (len > r->span)
		return -EINVAL;
	if (len == 0) {
		r->span = 0;
		return 0;
	}
	r->span -= len; /* the rest of the peek stays valid, right after what was released */
	r->local += len;
	sb_ring_publish_cons(r);
	return sb_circuit_notify_room(c);
}
