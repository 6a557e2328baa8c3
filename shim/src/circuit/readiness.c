/*
 * Readiness for poll/select/epoll, from ring state alone.
 *
 * Any thread may ask, so nothing here touches the per-direction state that
 * the sending and receiving threads own (tx/rx local indices and caches): it
 * reads the shared words only, our own published indices included.  Those
 * are validated as loosely as a hint allows; the data calls that follow
 * validate for real.
 *
 * A poller that wants to sleep:
 *     if (sb_circuit_arm(c, POLLIN) == 0)          announce, fence, re-check
 *         ppoll / epoll_wait on c->endpoint_fd for POLLIN
 *     sb_circuit_disarm(c, POLLIN);
 *     sb_circuit_ack_doorbell(c);                   drop our doorbell bytes; notes a hang-up
 *     revents = sb_circuit_poll(c);
 * (the same steps as sb_wait in wait.c, which says why no wake-up is lost).
 */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>

#include "internal.h"

unsigned sb_circuit_poll(struct sb_circuit *c)
{
	const unsigned all_ready = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM;
	if (sb_circuit_broken(c))
		return all_ready | POLLERR | POLLHUP | POLLRDHUP;
	bool records = sb_circuit_records(c);

	struct sb_ring_ctl *rx = c->rx.ctl, *tx = c->tx.ctl;
	uint32_t rx_state = atomic_load_explicit(&rx->prod_state, memory_order_acquire);
	uint64_t readable = atomic_load_explicit(&rx->prod, memory_order_acquire) -
			    atomic_load_explicit(&rx->cons, memory_order_relaxed);
	uint32_t tx_state = atomic_load_explicit(&tx->cons_state, memory_order_acquire);
	uint64_t queued = atomic_load_explicit(&tx->prod, memory_order_relaxed) -
			  atomic_load_explicit(&tx->cons, memory_order_acquire);
	if ((rx_state & ~(SB_PROD_FIN | SB_PROD_RESET)) || (tx_state & ~(SB_CONS_CLOSED | SB_CONS_RESET)) ||
	    readable > c->rx.size || queued > c->tx.size) {
		sb_circuit_fail(c, EPROTO);
		return all_ready | POLLERR | POLLHUP | POLLRDHUP;
	}
	uint32_t gone = atomic_load_explicit(&c->peer_gone, memory_order_relaxed);
	bool reset = (rx_state & SB_PROD_RESET) || (tx_state & SB_CONS_RESET) || gone == SB_PEER_GONE_UNREAD;
	/* As Linux's sk_shutdown: RCV_SHUTDOWN after the peer's FIN or our SHUT_RD, SEND_SHUTDOWN after our SHUT_WR. */
	bool rcv_shutdown = (rx_state & SB_PROD_FIN) || gone != SB_PEER_PRESENT ||
			    atomic_load_explicit(&c->shut_rd, memory_order_relaxed);
	bool snd_shutdown = atomic_load_explicit(&c->shut_wr, memory_order_relaxed);
	/* A send would not block either when it fails at once: the peer closed its reading side. */
	bool send_fails = snd_shutdown || (tx_state & SB_CONS_CLOSED) || gone != SB_PEER_PRESENT;

	unsigned ev = 0;
	if (readable > 0 || rcv_shutdown)
		ev |= POLLIN | POLLRDNORM;
	if (rcv_shutdown)
		ev |= POLLRDHUP;
	uint64_t need = records ? sizeof(struct sb_dgram_hdr) : 1; /* room for at least one byte / an empty datagram */
	if (c->tx.size - queued >= need || send_fails)
		ev |= POLLOUT | POLLWRNORM;
	if (rcv_shutdown && snd_shutdown)
		ev |= POLLHUP;
	if (reset)
		ev |= all_ready | POLLERR | POLLHUP | POLLRDHUP;
	return ev;
}

unsigned sb_circuit_arm(struct sb_circuit *c, unsigned events)
{
	if (events & POLLIN)
		sb_flag_up(&c->rx.ctl->cons_waiting);
	if (events & POLLOUT)
		sb_flag_up(&c->tx.ctl->prod_waiting);
	atomic_thread_fence(memory_order_seq_cst); /* [D] sleeper side */
	unsigned wanted = events | POLLERR | POLLHUP;
	if (events & POLLIN)
		wanted |= POLLRDNORM | POLLRDHUP;
	if (events & POLLOUT)
		wanted |= POLLWRNORM;
	return sb_circuit_poll(c) & wanted;
}

void sb_circuit_disarm(struct sb_circuit *c, unsigned events)
{
	if (events & POLLIN)
		sb_flag_down(&c->rx.ctl->cons_waiting);
	if (events & POLLOUT)
		sb_flag_down(&c->tx.ctl->prod_waiting);
}

void sb_circuit_view(struct sb_circuit *c, struct sb_circuit_view *v)
{
	struct sb_ring_ctl *rx = c->rx.ctl, *tx = c->tx.ctl;
	uint32_t rx_state = atomic_load_explicit(&rx->prod_state, memory_order_acquire);
	uint32_t tx_state = atomic_load_explicit(&tx->cons_state, memory_order_acquire);
	uint64_t readable = atomic_load_explicit(&rx->prod, memory_order_acquire) -
			    atomic_load_explicit(&rx->cons, memory_order_relaxed);
	uint64_t queued = atomic_load_explicit(&tx->prod, memory_order_relaxed) -
			  atomic_load_explicit(&tx->cons, memory_order_acquire);
	/* Loose bounds, as in sb_circuit_poll: the data calls validate for real. */
	if (readable > c->rx.size || queued > c->tx.size)
		sb_circuit_fail(c, EPROTO);
	v->broken = sb_circuit_broken(c);
	v->readable = readable > c->rx.size ? 0 : readable;
	v->unread_by_peer = queued > c->tx.size ? 0 : queued;
	v->writable = c->tx.size - v->unread_by_peer;
	v->peer_fin = (rx_state & SB_PROD_FIN) != 0;
	v->peer_reset = (rx_state & SB_PROD_RESET) || (tx_state & SB_CONS_RESET);
	v->peer_closed = (tx_state & SB_CONS_CLOSED) != 0;
	v->peer_gone = atomic_load_explicit(&c->peer_gone, memory_order_relaxed) != SB_PEER_PRESENT;
}

bool sb_circuit_probe_peer(struct sb_circuit *c)
{
	return sb_circuit_check_peer_gone(c);
}
