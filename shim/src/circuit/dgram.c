/*
 * Datagram mode: one record per datagram, a struct sb_dgram_hdr then the
 * payload padded to SB_DGRAM_ALIGN; a record may wrap around the end of the
 * ring.  Records are published whole, so a consumer never sees half of one.
 *
 * Semantics follow a connected UDP socket: boundaries are kept, a datagram
 * that does not fit the receiver's buffer is truncated (the rest is dropped)
 * and reported, one that can never fit the ring fails with EMSGSIZE.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "internal.h"
#include "iov.h"

ssize_t sb_circuit_send_dgram(struct sb_circuit *c, const struct iovec *iov, int iovcnt, const struct sockaddr *src,
			      socklen_t srclen, unsigned flags, const struct sb_wait *w)
{
	if (c->mode != SB_CIRCUIT_DGRAM)
		return -EOPNOTSUPP;
	size_t total;
	int rc = sb_iov_total(iov, iovcnt, &total);
	if (rc < 0)
		return rc;
	if (srclen > SB_DGRAM_ADDR_MAX || (src == NULL && srclen > 0))
		return -EINVAL;
	struct sb_ring_end *r = &c->tx;
	if (total > sb_dgram_max_payload(r->size))
		return -EMSGSIZE;
	rc = sb_tx_state(c);
	if (rc < 0)
		return rc;
	uint64_t record = sb_dgram_record_size(total);
	rc = sb_wait_room(c, record, flags, w);
	if (rc < 0)
		return rc;
	struct sb_dgram_hdr h = { .len = (uint32_t)total, .addr_len = (uint16_t)srclen, .stamp = (uint64_t)sb_now_ns() };
	if (srclen > 0)
		memcpy(h.addr, src, srclen);
	sb_ring_write(r, r->local, &h, sizeof h);
	struct sb_iov_cursor cur = sb_iov_cursor(iov, iovcnt);
	sb_iov_to_ring(&cur, r, r->local + sizeof h, total);
	r->local += record;
	sb_ring_publish_prod(r);
	atomic_fetch_add_explicit(&r->ctl->prod_records, 1, memory_order_relaxed); /* for `switchboard circuits` only */
	rc = sb_circuit_notify_data(c);
	return rc < 0 ? rc : (ssize_t)total;
}

/*
 * Reads and validates the record header at our index: a copy (so the peer
 * cannot change it between check and use) whose every field is in range and
 * whose record lies entirely within what the peer published.
 */
static int sb_dgram_header(const struct sb_ring_end *r, struct sb_dgram_hdr *h)
{
	uint64_t avail = sb_ring_readable(r);
	if (avail < sizeof *h)
		return -EPROTO;
	sb_ring_read(r, r->local, h, sizeof *h);
	if (h->flags != 0 || h->reserved != 0 || h->addr_len > SB_DGRAM_ADDR_MAX ||
	    h->len > sb_dgram_max_payload(r->size) || sb_dgram_record_size(h->len) > avail)
		return -EPROTO;
	return 0;
}

int sb_circuit_dgram_head(struct sb_circuit *c, struct sb_dgram_head *head)
{
	if (c->mode != SB_CIRCUIT_DGRAM)
		return -EOPNOTSUPP;
	int broken = sb_circuit_broken(c);
	if (broken)
		return -broken;
	struct sb_ring_end *r = &c->rx;
	if (sb_ring_readable(r) == 0) {
		/* A consumer that has not looked at prod for a while must not keep a stale cache ([A] in ring.h). */
		if (sb_ring_refresh_prod(r, true) < 0)
			return sb_circuit_fail(c, EPROTO);
		if (sb_ring_readable(r) == 0)
			return 0;
	}
	struct sb_dgram_hdr h;
	if (sb_dgram_header(r, &h) < 0)
		return sb_circuit_fail(c, EPROTO);
	head->len = h.len;
	head->stamp = h.stamp;
	head->index = r->local;
	return 1;
}

void sb_circuit_count_drop(struct sb_circuit *c)
{
	/* Statistics for `switchboard circuits`: only the producer writes it, nobody depends on it. */
	atomic_fetch_add_explicit(&c->tx.ctl->prod_dropped, 1, memory_order_relaxed);
}

ssize_t sb_circuit_recv_dgram(struct sb_circuit *c, const struct iovec *iov, int iovcnt, struct sockaddr *src,
			      socklen_t *srclen, bool *truncated, unsigned flags, const struct sb_wait *w)
{
	if (c->mode != SB_CIRCUIT_DGRAM)
		return -EOPNOTSUPP;
	size_t total;
	int rc = sb_iov_total(iov, iovcnt, &total);
	if (rc < 0)
		return rc;
	struct sb_ring_end *r = &c->rx;
	bool have_deadline = false;
	int64_t deadline = -1;
	for (;;) {
		int broken = sb_circuit_broken(c);
		if (broken)
			return -broken;
		if (sb_ring_readable(r) == 0 && sb_ring_refresh_prod(r, true) < 0)
			return sb_circuit_fail(c, EPROTO);
		if (sb_ring_readable(r) > 0)
			break;
		int state = sb_rx_state(c);
		if (sb_circuit_broken(c))
			return -sb_circuit_broken(c);
		if (sb_ring_readable(r) > 0)
			break;
		if (state == SB_PROD_FIN || (state == 0 && atomic_load_explicit(&c->shut_rd, memory_order_relaxed))) {
			/* The end (the peer shut down writing, or we shut down reading): no datagram, no address. */
			if (srclen != NULL)
				*srclen = 0;
			if (truncated != NULL)
				*truncated = false;
			return 0;
		}
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
		rc = sb_wait(c, SB_WAIT_DATA, 1, w, deadline);
		if (rc < 0)
			return rc;
	}
	struct sb_dgram_hdr h;
	if (sb_dgram_header(r, &h) < 0)
		return sb_circuit_fail(c, EPROTO);
	size_t n = h.len < total ? h.len : total;
	struct sb_iov_cursor cur = sb_iov_cursor(iov, iovcnt);
	sb_iov_from_ring(&cur, r, r->local + sizeof h, n);
	if (srclen != NULL) {
		if (src != NULL && *srclen > 0)
			memcpy(src, h.addr, *srclen < h.addr_len ? *srclen : h.addr_len);
		*srclen = h.addr_len; /* as recvfrom(): the real length, even if the buffer was shorter */
	}
	if (truncated != NULL)
		*truncated = h.len > total;
	if (!(flags & SB_PEEK)) {
		r->local += sb_dgram_record_size(h.len);
		sb_ring_publish_cons(r);
		rc = sb_circuit_notify_room(c);
		if (rc < 0)
			return rc;
	}
	return (flags & SB_TRUNC) ? (ssize_t)h.len : (ssize_t)n;
}
