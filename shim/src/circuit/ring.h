/*
 * One SPSC ring, as its producer or its consumer sees it: validated index
 * loads, publication, and copies in and out across the wrap-around.
 *
 * Indices are free-running 64-bit byte counters (position = index & mask);
 * `prod - cons` is the number of readable bytes, so all comparisons below are
 * differences, which stay right when a counter wraps past 2^64.  Each side
 * keeps its own index locally (never re-read from shared memory: the peer may
 * have scribbled over it) and a cached copy of the peer's, refreshed only
 * when the cached value says "full" or "empty".
 *
 * Barrier pairs (as in AF_XDP's xsk_queue.h).  P = producer, C = consumer:
 *
 *   [A] P: write ring bytes ........ store-release prod   (sb_ring_publish, producer)
 *       C: load-acquire prod ....... read ring bytes      (sb_ring_refresh_prod)
 *       The consumer never reads a byte before the producer has written it.
 *
 *   [B] C: read ring bytes ......... store-release cons   (sb_ring_publish, consumer)
 *       P: load-acquire cons ....... overwrite ring bytes (sb_ring_refresh_cons)
 *       The producer never overwrites a byte the consumer is still reading.
 *
 *   [C] P: store-release prod ...... fetch_or-release prod_state |= FIN / RESET (sb_circuit_publish_state)
 *       C: load-acquire prod_state . load-acquire prod    (sb_rx_state)
 *       A consumer that sees FIN also sees the final prod: EOF only after the last byte.
 *       (The consumer's CLOSED / RESET in cons_state pair the same way with cons.)
 *
 *   [D] Wake-ups, a store-buffering (Dekker) pair; both fences are seq_cst:
 *       sleeper: store waiting = 1 .. fence ... load prod/cons and state   (sb_wait_announce)
 *       waker:   store prod/cons/state  fence ... load waiting             (sb_circuit_notify)
 *       At least one side sees the other's store: either the sleeper sees
 *       the progress and does not sleep, or the waker sees the flag and rings.
 *
 * Everything read from shared memory is validated before use; a violation
 * returns -EPROTO and the caller breaks the circuit (sb_circuit_fail).
 */
#ifndef SB_CIRCUIT_RING_H
#define SB_CIRCUIT_RING_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include "circuit.h"

/* Consumer: bytes readable according to the cached producer index. */
static inline uint64_t sb_ring_readable(const struct sb_ring_end *r)
{
	return r->cached_peer - r->local;
}

/* Producer: bytes free according to the cached consumer index. */
static inline uint64_t sb_ring_writable(const struct sb_ring_end *r)
{
	return r->size - (r->local - r->cached_peer);
}

/*
 * Consumer: re-reads the producer's index.  Valid: it never moves backwards
 * (cached <= prod), never claims more than a full ring (prod <= cons + size),
 * never moves once FIN was seen, and in datagram mode stays record-aligned.
 * Invariant kept: local <= cached_peer <= local + size.
 */
static inline int sb_ring_refresh_prod(struct sb_ring_end *r, bool records)
{
	uint64_t prod = atomic_load_explicit(&r->ctl->prod, memory_order_acquire); /* [A] */
	if (prod - r->cached_peer > r->local + r->size - r->cached_peer)
		return -EPROTO;
	if ((r->peer_state & SB_PROD_FIN) && prod != r->cached_peer)
		return -EPROTO;
	if (records && (prod & (SB_DGRAM_ALIGN - 1)) != 0)
		return -EPROTO;
	r->cached_peer = prod;
	return 0;
}

/*
 * Producer: re-reads the consumer's index.  Valid: it never moves backwards
 * (cached <= cons) and never passes what we produced (cons <= local);
 * in datagram mode it stays record-aligned.
 */
static inline int sb_ring_refresh_cons(struct sb_ring_end *r, bool records)
{
	uint64_t cons = atomic_load_explicit(&r->ctl->cons, memory_order_acquire); /* [B] */
	if (cons - r->cached_peer > r->local - r->cached_peer)
		return -EPROTO;
	if (records && (cons & (SB_DGRAM_ALIGN - 1)) != 0)
		return -EPROTO;
	r->cached_peer = cons;
	return 0;
}

/*
 * Another process of ours (a fork) may have produced since we last did:
 * take our own index back from shared memory.  Valid: it never moves
 * backwards, and the consumer's index then checks against it as always.
 */
static inline int sb_ring_adopt_prod(struct sb_ring_end *r, bool records)
{
	uint64_t prod = atomic_load_explicit(&r->ctl->prod, memory_order_relaxed);
	if ((int64_t)(prod - r->local) < 0 || (records && (prod & (SB_DGRAM_ALIGN - 1)) != 0))
		return -EPROTO;
	r->local = prod;
	r->span = 0;
	return sb_ring_refresh_cons(r, records);
}

/* The same for the consumer's index: never backwards; the producer's index then checks against it. */
static inline int sb_ring_adopt_cons(struct sb_ring_end *r, bool records)
{
	uint64_t cons = atomic_load_explicit(&r->ctl->cons, memory_order_relaxed);
	if ((int64_t)(cons - r->local) < 0 || (records && (cons & (SB_DGRAM_ALIGN - 1)) != 0))
		return -EPROTO;
	if ((int64_t)(cons - r->cached_peer) > 0)
		r->cached_peer = cons; /* the other process read what we had not seen produced */
	r->local = cons;
	r->span = 0;
	return sb_ring_refresh_prod(r, records);
}

/* Producer: makes everything up to r->local readable by the peer. [A] */
static inline void sb_ring_publish_prod(struct sb_ring_end *r)
{
	atomic_store_explicit(&r->ctl->prod, r->local, memory_order_release);
}

/* Consumer: gives everything up to r->local back to the producer. [B] */
static inline void sb_ring_publish_cons(struct sb_ring_end *r)
{
	atomic_store_explicit(&r->ctl->cons, r->local, memory_order_release);
}

/* Copies n <= size bytes into the ring at index `at`, wrapping around the end. */
static inline void sb_ring_write(struct sb_ring_end *r, uint64_t at, const void *src, size_t n)
{
	size_t pos = (size_t)(at & r->mask);
	size_t first = n < r->size - pos ? n : (size_t)(r->size - pos);
	memcpy(r->data + pos, src, first);
	memcpy(r->data, (const unsigned char *)src + first, n - first);
}

/* Copies n <= size bytes out of the ring from index `at`, wrapping around the end. */
static inline void sb_ring_read(const struct sb_ring_end *r, uint64_t at, void *dst, size_t n)
{
	size_t pos = (size_t)(at & r->mask);
	size_t first = n < r->size - pos ? n : (size_t)(r->size - pos);
	memcpy(dst, r->data + pos, first);
	memcpy((unsigned char *)dst + first, r->data, n - first);
}

/* The span [at, at + n) of the ring as one or two iovecs; returns how many. */
static inline int sb_ring_spans(const struct sb_ring_end *r, uint64_t at, uint64_t n, struct iovec iov[2])
{
	size_t pos = (size_t)(at & r->mask);
	size_t first = n < r->size - pos ? (size_t)n : (size_t)(r->size - pos);
	iov[0] = (struct iovec){ .iov_base = r->data + pos, .iov_len = first };
	iov[1] = (struct iovec){ .iov_base = r->data, .iov_len = (size_t)n - first };
	return n == 0 ? 0 : n > first ? 2 : 1;
}

#endif
