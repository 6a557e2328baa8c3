/* A UDP socket's flows (flows.h). */
#include "flows.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "circuit/internal.h"
#include "sb_libc.h"
#include "sock/addr.h"
#include "sock/control.h"
#include "sock/debug.h"
#include "sock/sock.h"

/* The wake fd's tag for the port fd (flows are tagged with their pointer). */
#define SB_PORT_TAG 0

int sb_flows_open(struct sb_udp *u, int port_fd, int mailbox_fd)
{
	void *m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, mailbox_fd, 0);
	libc_close(mailbox_fd);
	if (m == MAP_FAILED)
		return -errno;
	if (u->wake_fd < 0) {
		int ep = libc_epoll_create1(EPOLL_CLOEXEC);
		if (ep < 0) {
			int e = errno;
			munmap(m, 4096);
			return -e;
		}
		u->wake_fd = sb_hide_fd(ep);
		libc_close(ep);
		if (u->wake_fd < 0) {
			munmap(m, 4096);
			return -EMFILE;
		}
	}
	int port = sb_hide_fd(port_fd);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SB_PORT_TAG };
	if (port < 0 || libc_epoll_ctl(u->wake_fd, EPOLL_CTL_ADD, port, &ev) < 0) {
		int e = errno;
		if (port >= 0)
			libc_close(port);
		munmap(m, 4096);
		return -e;
	}
	if (u->port_fd >= 0)
		libc_close(u->port_fd);
	if (u->mailbox != NULL)
		munmap((void *)u->mailbox, 4096);
	u->port_fd = port;
	u->mailbox = m;
	/* What is queued already (a socket claimed after exec) is taken at the first look. */
	u->mailbox_seen = 0;
	return 0;
}

static void sb_flow_free(struct sb_udp *u, struct sb_flow *f, bool tell_peer)
{
	if (u->wake_fd >= 0)
		libc_epoll_ctl(u->wake_fd, EPOLL_CTL_DEL, f->c.endpoint_fd, NULL);
	if (tell_peer)
		sb_circuit_close(&f->c);
	struct sb_proto_msg notice = { .type = SB_PROTO_MSG_CLOSED };
	notice.as.closed.circuit = f->id;
	notice.as.closed.bytes_sent = f->sent;
	notice.as.closed.bytes_received = f->received;
	if (tell_peer)
		sb_control_notice(&notice);
	libc_close(f->c.endpoint_fd);
	sb_circuit_detach(&f->c);
	free(f);
}

void sb_flows_close(struct sb_sock *s, bool shared)
{
	struct sb_udp *u = s->udp;
	if (u == NULL)
		return;
	for (unsigned i = 0; i < u->nflows; i++)
		sb_flow_free(u, u->flows[i], !shared);
	free(u->flows);
	u->flows = NULL;
	u->nflows = u->cap = 0;
	if (u->wake_fd >= 0)
		libc_close(u->wake_fd);
	u->wake_fd = -1;
	if (u->port_fd >= 0)
		libc_close(u->port_fd);
	u->port_fd = -1;
	if (u->mailbox != NULL)
		munmap((void *)u->mailbox, 4096);
	u->mailbox = NULL;
}

void sb_flows_unbind(struct sb_sock *s)
{
	struct sb_udp *u = s->udp;
	if (u == NULL)
		return;
	/* Peers find the receiver gone (their next datagram draws port-unreachable); what they sent stays readable. */
	for (unsigned i = 0; i < u->nflows; i++)
		if (!u->flows[i]->dead) {
			sb_circuit_shutdown(&u->flows[i]->c, SHUT_RD);
			sb_circuit_publish_cons_state(&u->flows[i]->c, SB_CONS_CLOSED);
		}
	if (u->port_fd >= 0) {
		libc_epoll_ctl(u->wake_fd, EPOLL_CTL_DEL, u->port_fd, NULL);
		libc_close(u->port_fd);
	}
	u->port_fd = -1;
	if (u->mailbox != NULL)
		munmap((void *)u->mailbox, 4096);
	u->mailbox = NULL;
}

static bool sb_same_addr(const struct sockaddr_storage *a, socklen_t alen, const struct sockaddr_storage *b,
			 socklen_t blen)
{
	if (alen != blen || a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port && memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
}

struct sb_flow *sb_flows_find(struct sb_udp *u, const struct sockaddr_storage *addr, socklen_t len)
{
	/* Newest first: after a peer re-created its circuit (exec), the new one is the live one. */
	for (unsigned i = u->nflows; i-- > 0;) {
		struct sb_flow *f = u->flows[i];
		if (!f->dead && !atomic_load_explicit(&f->c.shut_rd, memory_order_relaxed) &&
		    sb_same_addr(&f->peer, f->peer_len, addr, len))
			return f;
	}
	return NULL;
}

struct sb_flow *sb_flows_add(struct sb_udp *u, int memfd, int endpoint, enum sb_circuit_role role, uint64_t id,
			     const struct sockaddr_storage *local, socklen_t local_len, const struct sockaddr_storage *peer,
			     socklen_t peer_len)
{
	struct sb_flow *f = calloc(1, sizeof *f);
	int hidden = sb_hide_fd(endpoint);
	libc_close(endpoint);
	if (f == NULL || hidden < 0 || (u->nflows == u->cap && u->cap > 64 * 1024))
		goto fail;
	if (u->nflows == u->cap) {
		unsigned cap = u->cap ? u->cap * 2 : 8;
		struct sb_flow **t = realloc(u->flows, cap * sizeof *t);
		if (t == NULL)
			goto fail;
		u->flows = t;
		u->cap = cap;
	}
	if (sb_circuit_attach(&f->c, memfd, hidden, role) < 0)
		goto fail;
	libc_close(memfd);
	memfd = -1;
	/* A sender never waits for room; make the doorbell fd non-blocking so that ringing never waits either. */
	libc_fcntl(hidden, F_SETFL, (void *)(intptr_t)(libc_fcntl(hidden, F_GETFL, NULL) | O_NONBLOCK));
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP, .data.ptr = f };
	if (u->wake_fd >= 0 && libc_epoll_ctl(u->wake_fd, EPOLL_CTL_ADD, hidden, &ev) < 0) {
		sb_circuit_detach(&f->c);
		goto fail;
	}
	f->id = id;
	f->local = *local;
	f->local_len = local_len;
	f->peer = *peer;
	f->peer_len = peer_len;
	/* While connected, a new peer's datagrams are dropped on arrival (unless it is the connected one): none were queued before. */
	f->keep_before = u->connected_filter ? 0 : UINT64_MAX;
	/* Threads asleep on this socket (a receiver in poll while another thread sends the first
	 * datagram to a new peer) announced themselves on the flows there were: announce on this one
	 * for each of them too, or the peer's answer would not ring.  Their disarm takes it back. */
	for (unsigned i = 0; i < u->armed; i++)
		(void)sb_circuit_arm(&f->c, POLLIN);
	u->flows[u->nflows++] = f;
	return f;
fail:
	if (memfd >= 0)
		libc_close(memfd);
	if (hidden >= 0)
		libc_close(hidden);
	free(f);
	return NULL;
}

bool sb_flows_news(const struct sb_udp *u)
{
	return u->mailbox != NULL && atomic_load_explicit(u->mailbox, memory_order_acquire) != u->mailbox_seen;
}

/* One `incoming` from the port fd into a flow: 1, 0 when none is queued, or -errno. */
static int sb_take_one(struct sb_sock *s, int port_fd)
{
	unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE];
	struct sb_control_reply r;
	bool truncated = false;
	ssize_t n = sb_control_recvmsg(port_fd, MSG_DONTWAIT, buf, sizeof buf, &r, &truncated);
	if (n < 0)
		return n == -EAGAIN ? 0 : (int)n;
	if (n == 0)
		return 0;
	if (truncated || sb_proto_decode(buf, (size_t)n, SB_PROTO_ROUTE_PORT, &r.msg, NULL) != SB_PROTO_OK ||
	    r.msg.type != SB_PROTO_MSG_INCOMING || r.nfds != SB_PROTO_INCOMING_FDS ||
	    r.msg.as.incoming.socket_type != SB_PROTO_SOCKET_TYPE_DGRAM) {
		sb_control_drop_fds(&r);
		return 1; /* not for us (the operator never sends it): skip it */
	}
	const struct sb_proto_incoming *in = &r.msg.as.incoming;
	struct sockaddr_storage local, peer;
	socklen_t local_len = sb_addr_from_proto(s->domain, &in->local, &local);
	socklen_t peer_len = sb_addr_from_proto(s->domain, &in->peer, &peer);
	pthread_mutex_lock(&s->lock);
	struct sb_flow *f = sb_flows_add(s->udp, r.fds[SB_PROTO_INCOMING_FD_MEMFD], r.fds[SB_PROTO_INCOMING_FD_ENDPOINT],
					 SB_ROLE_ACCEPTOR, in->circuit, &local, local_len, &peer, peer_len);
	pthread_mutex_unlock(&s->lock);
	if (f == NULL)
		sb_debug("udp: could not take circuit %llu from a new peer", (unsigned long long)in->circuit);
	return 1;
}

void sb_flows_take_incoming(struct sb_sock *s, bool all)
{
	struct sb_udp *u = s->udp;
	if (u == NULL || u->mailbox == NULL || u->port_fd < 0)
		return;
	int port_fd = u->port_fd;
	pthread_mutex_lock(&u->take_lock);
	uint64_t target = atomic_load_explicit(u->mailbox, memory_order_acquire);
	/* Bounded: the count is the operator's, but the loop must end even if it were not. */
	for (unsigned i = 0; i < 4096 && (all || u->mailbox_seen != target); i++) {
		int got = sb_take_one(s, port_fd);
		if (got <= 0)
			break;
		u->mailbox_seen++;
	}
	if (!all && u->mailbox_seen != target) {
		/* Fewer messages than announced (some taken by another process sharing the socket): catch up. */
		u->mailbox_seen = target;
	}
	if (all)
		u->mailbox_seen = atomic_load_explicit(u->mailbox, memory_order_acquire);
	pthread_mutex_unlock(&u->take_lock);
}

/* Consumes the head record without copying it (a datagram a connected socket drops). */
static void sb_flow_discard(struct sb_flow *f)
{
	struct iovec none = { NULL, 0 };
	(void)sb_circuit_recv_dgram(&f->c, &none, 1, NULL, NULL, NULL, SB_NONBLOCK | SB_NOPROBE, NULL);
}

/* Whether the flow's peer has left for good and nothing of it is left to read. */
static bool sb_flow_finished(struct sb_flow *f)
{
	struct sb_circuit_view v;
	sb_circuit_view(&f->c, &v);
	return v.broken || ((v.peer_fin || v.peer_reset || v.peer_gone || atomic_load_explicit(&f->c.shut_rd, memory_order_relaxed)) &&
			     v.readable == 0);
}

/* Whether the record at `index` of f arrived while we were connected to another peer (then it is dropped). */
static bool sb_flow_filtered(const struct sb_sock *s, const struct sb_flow *f, uint64_t index)
{
	if (!s->udp->connected_filter || sb_same_addr(&f->peer, f->peer_len, &s->peer, s->peer_len))
		return false;
	return index >= f->keep_before;
}

struct sb_flow *sb_flows_pick(struct sb_sock *s, struct sb_dgram_head *head)
{
	struct sb_udp *u = s->udp;
	if (u == NULL)
		return NULL;
	/*
	 * Under s->lock: a sender may add a flow (and move the array) meanwhile.
	 * The scan makes no system call, so senders wait only briefly.
	 * The stamp decides the order across flows, clamped from below by the
	 * flow's floor: a datagram cannot claim to be older than the one before
	 * it, nor older than a moment at which we saw its flow empty.  A peer that
	 * lies about its stamps therefore gets ahead of others by at most what it
	 * queued while we were not looking.
	 */
	struct sb_flow *best = NULL;
	uint64_t best_stamp = 0, now = 0;
	pthread_mutex_lock(&s->lock);
	unsigned n = u->nflows;
	for (unsigned i = 0; i < n; i++) {
		struct sb_flow *f = u->flows[i];
		if (f->dead)
			continue;
		struct sb_dgram_head h;
		int rc;
		for (;;) {
			rc = sb_circuit_dgram_head(&f->c, &h);
			if (rc != 1 || !sb_flow_filtered(s, f, h.index))
				break;
			/* Connected to another peer, and this arrived after connect(): dropped, as the kernel does. */
			sb_flow_discard(f);
		}
		if (rc < 0) {
			sb_debug("udp: circuit %llu broke (%d)", (unsigned long long)f->id, rc);
			f->dead = true;
			u->dead_seen = true;
			continue;
		}
		if (rc == 0) {
			if (sb_flow_finished(f)) {
				f->dead = true;
				u->dead_seen = true;
				continue;
			}
			if (n > 1) {
				if (now == 0)
					now = (uint64_t)sb_now_ns();
				if (f->floor < now)
					f->floor = now;
			}
			continue;
		}
		uint64_t stamp = h.stamp > f->floor ? h.stamp : f->floor;
		if (best == NULL || stamp < best_stamp) {
			best = f;
			best_stamp = stamp;
			*head = h;
			head->stamp = stamp;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return best;
}

bool sb_flows_any_queued(struct sb_sock *s)
{
	struct sb_udp *u = s->udp;
	bool any = false;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; u != NULL && i < u->nflows && !any; i++) {
		struct sb_flow *f = u->flows[i];
		if (!f->dead)
			any = atomic_load_explicit(&f->c.rx.ctl->prod, memory_order_acquire) !=
			      atomic_load_explicit(&f->c.rx.ctl->cons, memory_order_relaxed);
	}
	pthread_mutex_unlock(&s->lock);
	return any;
}

uint64_t sb_flows_arrivals(struct sb_sock *s)
{
	struct sb_udp *u = s->udp;
	uint64_t sum = 0;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; u != NULL && i < u->nflows; i++)
		sum += atomic_load_explicit(&u->flows[i]->c.rx.ctl->prod, memory_order_acquire) + 1;
	pthread_mutex_unlock(&s->lock);
	return sum;
}

uint32_t sb_flows_next_len(struct sb_sock *s)
{
	/* A receiver may hold recv_lock while it sleeps: then nothing is queued that it will not take first. */
	struct sb_dgram_head h;
	if (pthread_mutex_trylock(&s->recv_lock) != 0)
		return 0;
	struct sb_flow *f = sb_flows_pick(s, &h);
	pthread_mutex_unlock(&s->recv_lock);
	return f != NULL ? h.len : 0;
}

void sb_flows_delivered(struct sb_flow *f, const struct sb_dgram_head *head, uint64_t bytes)
{
	if (f->floor < head->stamp)
		f->floor = head->stamp;
	f->received += bytes;
}

void sb_flows_connect_filter(struct sb_sock *s, bool on)
{
	struct sb_udp *u = s->udp;
	if (u == NULL)
		return;
	pthread_mutex_lock(&s->recv_lock);
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < u->nflows; i++) {
		struct sb_flow *f = u->flows[i];
		if (f->dead)
			continue;
		if (on) {
			/* What is queued now stays receivable; what comes later from others is dropped. */
			(void)sb_ring_refresh_prod(&f->c.rx, true);
			f->keep_before = f->c.rx.cached_peer;
		} else {
			/* Back to unconnected: whatever others sent while we were connected was dropped then. */
			struct sb_dgram_head h;
			while (u->connected_filter && sb_circuit_dgram_head(&f->c, &h) == 1 && sb_flow_filtered(s, f, h.index))
				sb_flow_discard(f);
			f->keep_before = UINT64_MAX;
		}
	}
	u->connected_filter = on;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->recv_lock);
}

bool sb_flows_arm(struct sb_sock *s)
{
	struct sb_udp *u = s->udp;
	if (u == NULL)
		return false;
	bool ready = false;
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < u->nflows; i++) {
		struct sb_flow *f = u->flows[i];
		if (f->dead)
			continue;
		if (sb_circuit_arm(&f->c, POLLIN) & (POLLIN | POLLERR))
			ready = true;
	}
	u->armed++;
	pthread_mutex_unlock(&s->lock);
	/* New peers announce themselves on the port fd, which the wake fd watches; the mailbox says so sooner. */
	return ready || sb_flows_news(u);
}

void sb_flows_disarm(struct sb_sock *s)
{
	struct sb_udp *u = s->udp;
	if (u == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	/* Flows added since the arm were never announced on: their counts must not go down (sb_flag_down stops at 0). */
	for (unsigned i = 0; i < u->nflows; i++)
		if (!u->flows[i]->dead)
			sb_flag_down(&u->flows[i]->c.rx.ctl->cons_waiting);
	if (u->armed > 0)
		u->armed--;
	pthread_mutex_unlock(&s->lock);
}

void sb_flows_ack(struct sb_sock *s)
{
	struct sb_udp *u = s->udp;
	if (u == NULL || u->wake_fd < 0)
		return;
	struct epoll_event ev[64];
	/* s->lock from before the look until the flows are handled: collect frees flows under it. */
	pthread_mutex_lock(&s->lock);
	int n = libc_epoll_wait(u->wake_fd, ev, 64, 0);
	bool port = false;
	for (int i = 0; i < n; i++) {
		if (ev[i].data.u64 == SB_PORT_TAG) {
			port = true;
			if (ev[i].events & (EPOLLHUP | EPOLLERR)) {
				/* The operator is gone: no new peers will come, and its hang-up would wake us forever. */
				libc_epoll_ctl(u->wake_fd, EPOLL_CTL_DEL, u->port_fd, NULL);
				port = false;
			}
			continue;
		}
		struct sb_flow *f = ev[i].data.ptr;
		/* The flow stays allocated while we run: collect needs recv_lock, which the caller holds, or s->lock. */
		if (sb_circuit_ack_doorbell(&f->c) || (ev[i].events & (EPOLLHUP | EPOLLERR | EPOLLRDHUP))) {
			/* Its peer's end hung up: stop watching it (level-triggered, it would wake us forever). */
			sb_circuit_mark_peer_gone(&f->c);
			libc_epoll_ctl(u->wake_fd, EPOLL_CTL_DEL, f->c.endpoint_fd, NULL);
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (port)
		sb_flows_take_incoming(s, true);
}

void sb_flows_collect(struct sb_sock *s)
{
	struct sb_udp *u = s->udp;
	if (u == NULL || !u->dead_seen || pthread_mutex_trylock(&s->send_lock) != 0)
		return;
	pthread_mutex_lock(&s->lock);
	u->dead_seen = false;
	unsigned k = 0;
	for (unsigned i = 0; i < u->nflows; i++) {
		struct sb_flow *f = u->flows[i];
		if (f->dead && u->armed == 0) {
			sb_flow_free(u, f, true);
		} else {
			u->dead_seen |= f->dead;
			u->flows[k++] = f;
		}
	}
	u->nflows = k;
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&s->send_lock);
}
