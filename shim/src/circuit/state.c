/*
 * The connection's state around the rings: our FIN / CLOSED / RESET bits, the
 * peer's (validated: only known bits, and a bit once set stays set), breaking
 * the circuit, the peer's death, shutdown, reset and close.
 *
 * Linux semantics we follow (docs/circuits.md has the table):
 *  - shutdown(SHUT_WR) sends FIN: the peer reads what is queued, then EOF;
 *  - shutdown(SHUT_RD) is local: reads return what is queued, then EOF; the
 *    peer is not told and may keep sending (as with TCP);
 *  - close() sends FIN and CLOSED (the peer's writes now fail with EPIPE), or
 *    RESET when it leaves received bytes unread (TCP sends RST then);
 *  - a reset peer: queued bytes can still be read, then ECONNRESET;
 *  - a peer whose endpoint hung up without a word (it died): as a reset if it
 *    left our bytes unread, else as a close.
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "internal.h"
#include "sys.h"

static void sb_ring_doorbell(struct sb_circuit *c, char which)
{
	/* Best effort: if the peer's socket buffer is full it has doorbells pending
	 * already; if the peer is gone there is nobody to wake. */
	if (sb_syscalls_restricted())
		(void)sb_sys_write(c->endpoint_fd, &which, 1);
	else
		(void)sb_sys_send(c->endpoint_fd, &which, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
}

_Atomic bool sb_circuit_restricted;

void sb_circuit_adopt(struct sb_circuit *c, bool sending, bool receiving)
{
	if (c == NULL || c->shm == NULL || sb_circuit_broken(c))
		return;
	bool records = sb_circuit_records(c);
	if ((sending && sb_ring_adopt_prod(&c->tx, records) < 0) || (receiving && sb_ring_adopt_cons(&c->rx, records) < 0))
		sb_circuit_fail(c, EPROTO);
}

void sb_circuit_restrict_syscalls(void)
{
	atomic_store_explicit(&sb_circuit_restricted, true, memory_order_relaxed);
}

/* [D] waker side: our store (index or state) is done; fence; look at the peer's flag. */
static uint32_t sb_peer_waiting(_Atomic uint32_t *flag)
{
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load_explicit(flag, memory_order_relaxed);
}

int sb_circuit_notify_data(struct sb_circuit *c)
{
	uint32_t waiting = sb_peer_waiting(&c->tx.ctl->cons_waiting);
	if (waiting == 0)
		return 0;
	if (waiting != 1)
		return sb_circuit_fail(c, EPROTO);
	sb_ring_doorbell(c, SB_DOORBELL_DATA);
	return 0;
}

int sb_circuit_notify_room(struct sb_circuit *c)
{
	uint32_t waiting = sb_peer_waiting(&c->rx.ctl->prod_waiting);
	if (waiting == 0)
		return 0;
	if (waiting != 1)
		return sb_circuit_fail(c, EPROTO);
	sb_ring_doorbell(c, SB_DOORBELL_ROOM);
	return 0;
}

/* State changes wake the peer whatever its flag holds: we may be breaking the circuit over garbage there. */
void sb_circuit_publish_prod_state(struct sb_circuit *c, uint32_t bits)
{
	atomic_fetch_or_explicit(&c->tx.ctl->prod_state, bits, memory_order_release); /* [C] */
	if (sb_peer_waiting(&c->tx.ctl->cons_waiting) != 0)
		sb_ring_doorbell(c, SB_DOORBELL_DATA);
}

void sb_circuit_publish_cons_state(struct sb_circuit *c, uint32_t bits)
{
	atomic_fetch_or_explicit(&c->rx.ctl->cons_state, bits, memory_order_release); /* [C] */
	if (sb_peer_waiting(&c->rx.ctl->prod_waiting) != 0)
		sb_ring_doorbell(c, SB_DOORBELL_ROOM);
}

int sb_circuit_fail(struct sb_circuit *c, int err)
{
	int expected = 0;
	if (!atomic_compare_exchange_strong_explicit(&c->broken, &expected, err, memory_order_relaxed,
						     memory_order_relaxed))
		return -expected;
	/* Both words: the peer's sender looks at cons_state, its receiver at prod_state. */
	sb_circuit_publish_prod_state(c, SB_PROD_RESET);
	sb_circuit_publish_cons_state(c, SB_CONS_RESET);
	return -err;
}

/* Reads a peer state word: only `known` bits, and none of the bits seen before may have disappeared. */
static int sb_peer_state(struct sb_circuit *c, _Atomic uint32_t *word, uint32_t seen, uint32_t known, uint32_t *out)
{
	uint32_t s = atomic_load_explicit(word, memory_order_acquire); /* [C] */
	if ((s & ~known) != 0 || (s & seen) != seen)
		return sb_circuit_fail(c, EPROTO);
	*out = s;
	return 0;
}

int sb_rx_state(struct sb_circuit *c)
{
	int broken = sb_circuit_broken(c);
	if (broken)
		return -broken;
	struct sb_ring_end *r = &c->rx;
	uint32_t s = 0;
	int rc = sb_peer_state(c, &r->ctl->prod_state, r->peer_state, SB_PROD_FIN | SB_PROD_RESET, &s);
	if (rc < 0)
		return rc;
	uint32_t gone = atomic_load_explicit(&c->peer_gone, memory_order_relaxed);
	if ((s & (SB_PROD_FIN | SB_PROD_RESET)) != 0 || gone != SB_PEER_PRESENT) {
		/* [C]: the prod published before FIN/RESET is final (checked against the old state,
		 * so the move to the final prod is allowed exactly once). */
		if (sb_ring_refresh_prod(r, sb_circuit_records(c)) < 0)
			return sb_circuit_fail(c, EPROTO);
	}
	r->peer_state = s;
	if (s & SB_PROD_RESET)
		return -ECONNRESET;
	if (s & SB_PROD_FIN)
		return SB_PROD_FIN;
	if (gone == SB_PEER_GONE_UNREAD)
		return -ECONNRESET;
	if (gone == SB_PEER_GONE_CLEAN)
		return SB_PROD_FIN;
	return 0;
}

int sb_tx_state(struct sb_circuit *c)
{
	int broken = sb_circuit_broken(c);
	if (broken)
		return -broken;
	if (atomic_load_explicit(&c->shut_wr, memory_order_relaxed))
		return -EPIPE;
	struct sb_ring_end *r = &c->tx;
	uint32_t s = 0;
	int rc = sb_peer_state(c, &r->ctl->cons_state, r->peer_state, SB_CONS_CLOSED | SB_CONS_RESET, &s);
	if (rc < 0)
		return rc;
	r->peer_state = s;
	if (s & SB_CONS_RESET)
		return -ECONNRESET;
	if (s & SB_CONS_CLOSED)
		return -EPIPE;
	switch (atomic_load_explicit(&c->peer_gone, memory_order_relaxed)) {
	case SB_PEER_GONE_UNREAD:
		return -ECONNRESET;
	case SB_PEER_GONE_CLEAN:
		return -EPIPE;
	default:
		return 0;
	}
}

void sb_circuit_mark_peer_gone(struct sb_circuit *c)
{
	/* Shared words, not tx.local: any thread may get here, and the peer can no longer move them. */
	uint64_t prod = atomic_load_explicit(&c->tx.ctl->prod, memory_order_acquire);
	uint64_t cons = atomic_load_explicit(&c->tx.ctl->cons, memory_order_acquire);
	uint32_t how = prod != cons ? SB_PEER_GONE_UNREAD : SB_PEER_GONE_CLEAN;
	uint32_t expected = SB_PEER_PRESENT;
	atomic_compare_exchange_strong_explicit(&c->peer_gone, &expected, how, memory_order_relaxed,
						memory_order_relaxed);
}

bool sb_circuit_check_peer_gone(struct sb_circuit *c)
{
	if (atomic_load_explicit(&c->peer_gone, memory_order_relaxed) != SB_PEER_PRESENT)
		return true;
	struct pollfd p = { .fd = c->endpoint_fd, .events = POLLIN };
	const struct timespec zero = { 0, 0 };
	long n = sb_sys_ppoll(&p, 1, &zero, NULL);
	if (n > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL)) != 0) {
		sb_circuit_mark_peer_gone(c);
		return true;
	}
	return false;
}

int sb_circuit_shutdown(struct sb_circuit *c, int how)
{
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	if (how != SHUT_WR)
		atomic_store_explicit(&c->shut_rd, true, memory_order_relaxed);
	if (how != SHUT_RD && !atomic_exchange_explicit(&c->shut_wr, true, memory_order_relaxed))
		sb_circuit_publish_prod_state(c, SB_PROD_FIN);
	return 0;
}

void sb_circuit_reset(struct sb_circuit *c)
{
	sb_circuit_fail(c, ECONNRESET);
}

void sb_circuit_close(struct sb_circuit *c)
{
	if (c == NULL || c->shm == NULL || sb_circuit_broken(c))
		return;
	/* Like TCP: closing with received bytes unread resets the connection (a datagram circuit just drops them). */
	if (!sb_circuit_records(c)) {
		if (sb_ring_refresh_prod(&c->rx, false) < 0) {
			sb_circuit_fail(c, EPROTO);
			return;
		}
		if (sb_ring_readable(&c->rx) > 0) {
			sb_circuit_reset(c);
			return;
		}
	}
	atomic_store_explicit(&c->shut_rd, true, memory_order_relaxed);
	if (!atomic_exchange_explicit(&c->shut_wr, true, memory_order_relaxed))
		sb_circuit_publish_prod_state(c, SB_PROD_FIN);
	sb_circuit_publish_cons_state(c, SB_CONS_CLOSED);
}
