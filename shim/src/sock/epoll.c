/*
 * epoll over a mix of kernel fds and the shim's sockets.
 *
 * The kernel cannot see a circuit's readiness (it lives in shared memory),
 * so the shim's sockets never enter the program's epoll instance.  Per epoll
 * fd the shim keeps:
 *   - its own interest list for our sockets (struct sb_ep_reg), with the
 *     program's events, data, and edge-triggered / one-shot bookkeeping;
 *   - a private "inner" epoll instance, itself registered (level-triggered,
 *     EPOLLIN, tagged SB_EP_INNER) in the program's instance, so a sleep in
 *     the program's instance wakes for our sockets too.  Inside it:
 *       listening sockets: their port fd, with the program's own flags
 *         (the port fd's POLLIN is the accept queue, so the kernel does
 *         level, edge and one-shot exactly);
 *       connected sockets: their endpoint fd, level-triggered: a doorbell
 *         byte (rung only while we announced a sleep) or the peer's hang-up;
 *       datagram sockets: their wake fd (udp/udp.h), level-triggered, which
 *         gathers the doorbells of all their flows and their new peers.
 * Both kinds are registered under the program's fd number, which is the
 * kernel fd behind the socket in its phase (sock.h); when the phase changes
 * (listen, connect), the inner registration follows (sb_ep_watch).
 *
 * One epoll_wait: drain the inner instance (ack doorbells, take listeners'
 * events), compute every connected socket's readiness from its state
 * machine and rings, then take the program's kernel fds without sleeping.
 * If nothing is ready, announce a sleep on every circuit (sb_circuit_arm,
 * barrier pair [D] of ring.h: a peer that publishes after this sees the flag
 * and rings), and sleep in the program's instance; then start over.
 *
 * Edge-triggered sockets report when their readiness signature (state,
 * bytes that arrived, bytes the peer consumed, peer events) changed since the
 * last report: as Linux, which reports an edge socket again on every new
 * segment or freed space, with its full current mask.
 *
 * Limits (docs/compatibility.md): a registration ends when the program
 * closes that fd number (Linux: when the last fd of the file is closed);
 * an epoll fd dup()ed or nested in another epoll or poll()ed sees our
 * sockets' readiness only through epoll_wait on it.
 */
#include "epoll.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "circuit/internal.h"
#include "sb_libc.h"
#include "setup.h"
#include "udp/udp.h"

/* The tag of the inner instance's event in the program's instance: no program stores this. */
#define SB_EP_INNER 0x53424550494e4e52ull /* "SBEPINNR" */

/* Flags that are the kernel's business for a port fd, and ours for a circuit. */
#define SB_EP_MODES (EPOLLET | EPOLLONESHOT | EPOLLEXCLUSIVE | EPOLLWAKEUP)

enum sb_ep_kind {
	SB_EP_NONE,    /* nothing can change by itself: the machine answers (fresh, bound, closed…) */
	SB_EP_PORT,    /* listening: the kernel watches the port fd */
	SB_EP_CIRCUIT, /* connected: the endpoint wakes us, the machine and rings answer */
	SB_EP_NESTED,  /* another epoll fd that has sockets of ours: its fd wakes us, its interest list answers */
	SB_EP_DGRAM,   /* a datagram socket with a port: its wake fd wakes us, the machine and its flows answer */
};

struct sb_ep;

struct sb_ep_reg {
	int fd;
	struct sb_sock *sock;     /* one of our sockets, or NULL for a nested epoll instance */
	struct sb_ep *nested;     /* the nested epoll instance (SB_EP_NESTED) */
	uint32_t events;          /* as the program gave them */
	epoll_data_t data;
	bool disabled;            /* one-shot that fired; EPOLL_CTL_MOD re-arms it */
	uint64_t last_sig;        /* edge-triggered: the signature at the last report */
	bool reported;            /* edge-triggered: last_sig is valid */
	enum sb_ep_kind kind;     /* what the inner instance watches now */
	const void *watched;      /* …and for which circuit (a new circuit needs a new registration) */
	int inner_fd;             /* the fd registered in the inner instance (the program's, or a datagram socket's wake fd) */
	unsigned armed;           /* the waits announced on its circuit in this epoll_wait (POLLIN, POLLOUT) */
	/* A connected socket's readiness as last computed, and everything it depends on. */
	struct sb_ep_key {
		const void *circuit;
		uint64_t rx_prod, tx_cons, rx_local, tx_local; /* local: also moved by the zero-copy API */
		uint32_t rx_state, tx_state, peer_gone;
		int broken;
		uint8_t state;
		uint8_t memory[SB_STREAM_NFACTS];
	} key;
	bool key_valid;
	unsigned key_mask;
};

struct sb_ep {
	int epfd;
	int inner;
	pthread_mutex_t lock;
	struct sb_ep_reg *regs;
	size_t n, cap;
	struct sb_ep *next;
};

static pthread_mutex_t sb_eps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sb_ep *sb_eps;
static atomic_uint sb_eps_count; /* lets close() skip the list when no epoll knows our sockets */

/* Which fds are epoll instances (from epoll_create): one may be nested in another. */
#define SB_EPFD_MAX 65536
static _Atomic uint8_t sb_is_epfd[SB_EPFD_MAX / 8];

void sb_epoll_created(int fd)
{
	if (fd >= 0 && fd < SB_EPFD_MAX)
		atomic_fetch_or(&sb_is_epfd[fd / 8], (uint8_t)(1u << (fd % 8)));
}

bool sb_epoll_is_epfd(int fd)
{
	return fd >= 0 && fd < SB_EPFD_MAX && (atomic_load_explicit(&sb_is_epfd[fd / 8], memory_order_relaxed) & (1u << (fd % 8)));
}

static struct sb_ep *sb_ep_find(int epfd)
{
	if (atomic_load_explicit(&sb_eps_count, memory_order_relaxed) == 0)
		return NULL;
	pthread_mutex_lock(&sb_eps_lock);
	struct sb_ep *ep = sb_eps;
	while (ep != NULL && ep->epfd != epfd)
		ep = ep->next;
	pthread_mutex_unlock(&sb_eps_lock);
	return ep;
}

/* The state for epfd, made on first use: -errno if epfd is not an epoll instance. */
static int sb_ep_open(int epfd, struct sb_ep **out)
{
	struct sb_ep *ep = sb_ep_find(epfd);
	if (ep != NULL) {
		*out = ep;
		return 0;
	}
	ep = calloc(1, sizeof *ep);
	if (ep == NULL)
		return -ENOMEM;
	int rc = 0;
	int inner = libc_epoll_create1(EPOLL_CLOEXEC);
	if (inner < 0) {
		rc = -errno;
		goto out_free;
	}
	ep->inner = sb_hide_fd(inner);
	libc_close(inner);
	if (ep->inner < 0) {
		rc = -EMFILE;
		goto out_free;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = SB_EP_INNER };
	if (libc_epoll_ctl(epfd, EPOLL_CTL_ADD, ep->inner, &ev) < 0) {
		rc = -errno; /* EBADF, or EINVAL: epfd is not an epoll instance */
		libc_close(ep->inner);
		goto out_free;
	}
	ep->epfd = epfd;
	pthread_mutex_init(&ep->lock, NULL);
	pthread_mutex_lock(&sb_eps_lock);
	ep->next = sb_eps;
	sb_eps = ep;
	atomic_fetch_add(&sb_eps_count, 1);
	pthread_mutex_unlock(&sb_eps_lock);
	*out = ep;
	return 0;
out_free:
	free(ep);
	return rc;
}

static struct sb_ep_reg *sb_ep_reg_of(struct sb_ep *ep, int fd)
{
	for (size_t i = 0; i < ep->n; i++)
		if (ep->regs[i].fd == fd)
			return &ep->regs[i];
	return NULL;
}

static void sb_ep_unwatch(struct sb_ep *ep, struct sb_ep_reg *r)
{
	if (r->kind != SB_EP_NONE)
		libc_epoll_ctl(ep->inner, EPOLL_CTL_DEL, r->inner_fd, NULL); /* ENOENT when the file changed: it went with it */
	r->kind = SB_EP_NONE;
	r->watched = NULL;
}

static enum sb_ep_kind sb_ep_kind_of(const struct sb_ep_reg *r)
{
	const struct sb_sock *s = r->sock;
	if (s == NULL)
		return SB_EP_NESTED;
	if (s->udp != NULL)
		return sb_udp_wake_fd(s) >= 0 ? SB_EP_DGRAM : SB_EP_NONE;
	if (s->state == SB_STREAM_S_LISTENING)
		return SB_EP_PORT;
	if (s->circuit != NULL)
		return SB_EP_CIRCUIT;
	return SB_EP_NONE;
}

/* What the inner instance watches for a registration of `kind`. */
static struct epoll_event sb_ep_inner_event(const struct sb_ep_reg *r, enum sb_ep_kind kind)
{
	struct epoll_event ev = { .data.u64 = (uint64_t)(uint32_t)r->fd };
	if (kind == SB_EP_PORT)
		ev.events = (r->events & (EPOLLIN | EPOLLRDNORM | SB_EP_MODES)) | EPOLLIN;
	else
		ev.events = EPOLLIN; /* doorbells (hang-ups come anyway), or the nested instance's own readiness */
	if (kind == SB_EP_PORT && r->disabled)
		ev.events &= ~(uint32_t)EPOLLIN; /* a one-shot that fired stays quiet */
	return ev;
}

/*
 * Makes the inner instance watch what the socket's phase needs (after
 * listen, connect, …).  `modified`: the program changed its events, which
 * matters to a port fd's registration (its flags are the program's) and not
 * to an endpoint's (always the doorbell).
 */
static void sb_ep_watch(struct sb_ep *ep, struct sb_ep_reg *r, bool modified)
{
	enum sb_ep_kind kind = sb_ep_kind_of(r);
	const void *watched = kind == SB_EP_CIRCUIT ? (const void *)r->sock->circuit : kind == SB_EP_NESTED ? (const void *)r->nested : NULL;
	int inner_fd = kind == SB_EP_DGRAM ? sb_udp_wake_fd(r->sock) : r->fd;
	if (kind == r->kind && watched == r->watched && inner_fd == r->inner_fd) {
		if (modified && kind == SB_EP_PORT) {
			struct epoll_event ev = sb_ep_inner_event(r, kind);
			libc_epoll_ctl(ep->inner, EPOLL_CTL_MOD, r->fd, &ev);
		}
		return;
	}
	sb_ep_unwatch(ep, r);
	if (kind == SB_EP_NONE)
		return;
	struct epoll_event ev = sb_ep_inner_event(r, kind);
	int rc = libc_epoll_ctl(ep->inner, EPOLL_CTL_ADD, inner_fd, &ev);
	if (rc < 0 && errno == EEXIST)
		rc = libc_epoll_ctl(ep->inner, EPOLL_CTL_MOD, inner_fd, &ev);
	if (rc == 0) {
		r->kind = kind;
		r->watched = watched;
		r->inner_fd = inner_fd;
	}
}

static void sb_ep_remove(struct sb_ep *ep, struct sb_ep_reg *r)
{
	sb_ep_unwatch(ep, r);
	*r = ep->regs[--ep->n];
}

int sb_epoll_ctl_socket(int epfd, int op, int fd, struct epoll_event *event)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL && !sb_epoll_is_epfd(fd))
		return -EBADF;
	if (epfd == fd)
		return -EINVAL;
	if (op != EPOLL_CTL_DEL && event == NULL)
		return -EFAULT;
	if (op == EPOLL_CTL_ADD && (event->events & EPOLLEXCLUSIVE) &&
	    (event->events & ~(uint32_t)(EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE)))
		return -EINVAL; /* as ep_insert's EPOLLEXCLUSIVE_OK_BITS */
	struct sb_ep *ep = NULL, *nested = NULL;
	int rc = sb_ep_open(epfd, &ep);
	if (rc < 0)
		return rc;
	if (s == NULL && op != EPOLL_CTL_DEL && (rc = sb_ep_open(fd, &nested)) < 0)
		return rc;
	pthread_mutex_lock(&ep->lock);
	struct sb_ep_reg *r = sb_ep_reg_of(ep, fd);
	switch (op) {
	case EPOLL_CTL_ADD:
		if (r != NULL) {
			rc = -EEXIST;
			break;
		}
		if (ep->n == ep->cap) {
			size_t cap = ep->cap ? ep->cap * 2 : 16;
			struct sb_ep_reg *regs = realloc(ep->regs, cap * sizeof *regs);
			if (regs == NULL) {
				rc = -ENOMEM;
				break;
			}
			ep->regs = regs;
			ep->cap = cap;
		}
		r = &ep->regs[ep->n++];
		*r = (struct sb_ep_reg){ .fd = fd, .sock = s, .nested = nested, .events = event->events, .data = event->data };
		sb_ep_watch(ep, r, false);
		if (s == NULL && r->kind != SB_EP_NESTED) {
			rc = -errno; /* the kernel refused the nesting (ELOOP, EINVAL…) */
			sb_ep_remove(ep, r);
		}
		break;
	case EPOLL_CTL_MOD:
		if (r == NULL) {
			rc = -ENOENT;
			break;
		}
		if ((event->events & EPOLLEXCLUSIVE) || (r->events & EPOLLEXCLUSIVE)) {
			rc = -EINVAL; /* as Linux: exclusive registrations cannot be modified */
			break;
		}
		r->sock = s;
		r->nested = nested;
		r->events = event->events;
		r->data = event->data;
		r->disabled = false;
		r->reported = false; /* Linux re-polls the fd on MOD: a ready socket reports again */
		sb_ep_watch(ep, r, true);
		break;
	case EPOLL_CTL_DEL:
		if (r == NULL) {
			rc = -ENOENT;
			break;
		}
		sb_ep_remove(ep, r);
		break;
	default:
		rc = -EINVAL;
	}
	pthread_mutex_unlock(&ep->lock);
	return rc;
}

bool sb_epoll_knows_sockets(int epfd)
{
	if (!sb_epoll_is_epfd(epfd))
		return false; /* poll() asks this of every fd: most are not epoll instances at all */
	struct sb_ep *ep = sb_ep_find(epfd);
	return ep != NULL && ep->n > 0;
}

/* What an edge-triggered registration compares: anything that makes Linux wake the waiters. */
static uint64_t sb_ep_signature(struct sb_sock *s, unsigned mask)
{
	uint64_t sig = (uint64_t)s->state << 56 ^ (uint64_t)mask << 40;
	if (s->udp != NULL)
		sig ^= sb_udp_arrivals(s) * 0x9e3779b97f4a7c15ull; /* every new datagram is an edge */
	if (s->circuit != NULL) {
		struct sb_circuit_view v;
		sb_circuit_view(s->circuit, &v);
		uint64_t arrived = s->bytes_received + v.readable;
		uint64_t consumed = s->bytes_sent - v.unread_by_peer;
		sig ^= arrived * 0x9e3779b97f4a7c15ull ^ consumed * 0xc2b2ae3d27d4eb4full;
		sig ^= (uint64_t)(v.peer_fin | v.peer_reset << 1 | v.peer_closed << 2 | v.peer_gone << 3) << 32;
	}
	return sig;
}

/* The events to report for a computed registration now (0: none), with the edge and one-shot bookkeeping. */
/*
 * What a connected socket's readiness depends on, read as it is (no
 * validation: it is only compared).  With 50 connections, most of them idle
 * at any moment, this saves the machine's sync and poll for all but the
 * few whose rings or peer moved.
 */
static void sb_ep_key_of(const struct sb_sock *s, struct sb_ep_key *k)
{
	memset(k, 0, sizeof *k);
	struct sb_circuit *c = s->circuit;
	k->circuit = c;
	k->state = s->state;
	memcpy(k->memory, s->memory, sizeof k->memory);
	if (c == NULL)
		return;
	k->rx_local = c->rx.local;
	k->tx_local = c->tx.local;
	k->rx_prod = atomic_load_explicit(&c->rx.ctl->prod, memory_order_acquire);
	k->tx_cons = atomic_load_explicit(&c->tx.ctl->cons, memory_order_acquire);
	k->rx_state = atomic_load_explicit(&c->rx.ctl->prod_state, memory_order_acquire);
	k->tx_state = atomic_load_explicit(&c->tx.ctl->cons_state, memory_order_acquire);
	k->peer_gone = atomic_load_explicit(&c->peer_gone, memory_order_relaxed);
	k->broken = atomic_load_explicit(&c->broken, memory_order_relaxed);
}

/* The socket's poll() bits now: from the cache when nothing it depends on moved. */
static unsigned sb_ep_mask(struct sb_ep_reg *r)
{
	struct sb_sock *s = r->sock;
	if (s->udp != NULL)
		return sb_udp_poll(s); /* several flows: no cache key (yet) */
	pthread_mutex_lock(&s->lock);
	/* The key is read before the readiness is computed: whatever moves after it changes the next key. */
	struct sb_ep_key now;
	sb_ep_key_of(s, &now);
	if (s->circuit != NULL && !s->shared && r->key_valid && memcmp(&now, &r->key, sizeof now) == 0) {
		pthread_mutex_unlock(&s->lock);
		return r->key_mask;
	}
	sb_sock_sync(s);
	sb_sock_settle_connect(s, false); /* a connect under way: has the listener made room? */
	unsigned mask = sb_sock_poll(s);
	r->key = now;
	r->key_valid = s->circuit != NULL;
	r->key_mask = mask;
	pthread_mutex_unlock(&s->lock);
	return mask;
}

static bool sb_ep_peek(struct sb_ep *ep, int depth);

static uint32_t sb_ep_report(struct sb_ep_reg *r)
{
	if (r->disabled)
		return 0;
	if (r->sock == NULL) {
		/* A nested instance is readable while anything in it is ready (Linux: ep_eventpoll_poll). */
		bool ready = sb_ep_peek(r->nested, 1);
		bool was = r->reported;
		r->reported = ready;
		if (!ready || !(r->events & EPOLLIN) || ((r->events & EPOLLET) && was))
			return 0;
		if (r->events & EPOLLONESHOT)
			r->disabled = true;
		return EPOLLIN;
	}
	struct sb_sock *s = r->sock;
	unsigned mask = sb_ep_mask(r);
	uint32_t ev = mask & (r->events | EPOLLERR | EPOLLHUP) &
		      (EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLRDNORM | EPOLLRDBAND | EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG |
		       EPOLLERR | EPOLLHUP | EPOLLRDHUP);
	if (ev == 0)
		return 0;
	if (r->events & EPOLLET) {
		uint64_t sig = sb_ep_signature(s, mask);
		if (r->reported && sig == r->last_sig)
			return 0;
		r->last_sig = sig;
		r->reported = true;
	}
	if (r->events & EPOLLONESHOT)
		r->disabled = true;
	return ev;
}

/*
 * Whether epoll_wait(ep) would return something now, without taking it:
 * its kernel side (the program's fds, and our inner instance: listeners'
 * queues, doorbells), then our sockets, then instances nested in it.
 */
static bool sb_ep_peek(struct sb_ep *ep, int depth)
{
	struct pollfd p = { .fd = ep->epfd, .events = POLLIN };
	if (libc_poll(&p, 1, 0) > 0 && (p.revents & POLLIN))
		return true;
	if (depth > 4)
		return false; /* as the kernel's EP_MAX_NESTS */
	bool ready = false;
	pthread_mutex_lock(&ep->lock);
	for (size_t i = 0; i < ep->n && !ready; i++) {
		struct sb_ep_reg *r = &ep->regs[i];
		if (r->disabled)
			continue;
		if (r->sock == NULL) {
			ready = sb_ep_peek(r->nested, depth + 1);
		} else if (sb_ep_kind_of(r) != SB_EP_PORT) {
			unsigned mask = sb_ep_mask(r) & (r->events | EPOLLERR | EPOLLHUP);
			ready = mask != 0 && (!(r->events & EPOLLET) || !r->reported || sb_ep_signature(r->sock, sb_ep_mask(r)) != r->last_sig);
		}
	}
	pthread_mutex_unlock(&ep->lock);
	return ready;
}

/* Takes what the inner instance has: listeners' events into out[], doorbells acked. */
static int sb_ep_drain_inner(struct sb_ep *ep, struct epoll_event *out, int room)
{
	struct epoll_event got[64];
	int n = 0;
	int k = libc_epoll_wait(ep->inner, got, 64, 0);
	for (int i = 0; i < k; i++) {
		struct sb_ep_reg *r = sb_ep_reg_of(ep, (int)(uint32_t)got[i].data.u64);
		if (r == NULL)
			continue; /* a registration that went with its fd */
		if (r->kind == SB_EP_DGRAM) {
			sb_udp_ack(r->sock);
		} else if (r->kind == SB_EP_CIRCUIT && r->sock->circuit == r->watched) {
			sb_circuit_ack_doorbell(r->sock->circuit);
			if (got[i].events & (EPOLLHUP | EPOLLERR)) {
				/* The peer is gone for good: the hang-up would wake every sleep from now
				 * on; the machine knows it now.  (kind and watched stay, so it is not re-added.) */
				sb_circuit_probe_peer(r->sock->circuit);
				libc_epoll_ctl(ep->inner, EPOLL_CTL_DEL, r->fd, NULL);
			}
		} else if (r->kind == SB_EP_PORT && n < room && !r->disabled) {
			out[n].events = got[i].events & (r->events | EPOLLERR | EPOLLHUP);
			out[n].data = r->data;
			if (out[n].events == 0)
				continue;
			if (r->events & EPOLLONESHOT)
				r->disabled = true; /* the kernel disabled the port fd's registration too */
			n++;
		}
	}
	return n;
}

/* Removes the inner instance's tag from what the program's instance returned. */
static int sb_ep_strip_inner(struct epoll_event *ev, int n)
{
	int k = 0;
	for (int i = 0; i < n; i++)
		if (ev[i].data.u64 != SB_EP_INNER)
			ev[k++] = ev[i];
	return k;
}

/* One look without sleeping: ours first, then the program's kernel fds. */
static int sb_ep_look(struct sb_ep *ep, struct epoll_event *events, int max)
{
	int n = sb_ep_drain_inner(ep, events, max);
	for (size_t i = 0; i < ep->n && n < max; i++) {
		struct sb_ep_reg *r = &ep->regs[i];
		sb_ep_watch(ep, r, false);
		if (r->kind == SB_EP_PORT)
			continue; /* the inner instance reports it */
		uint32_t ev = sb_ep_report(r);
		if (ev != 0)
			events[n++] = (struct epoll_event){ .events = ev, .data = r->data };
	}
	if (n < max) {
		int k = libc_epoll_wait(ep->epfd, events + n, max - n, 0);
		if (k > 0)
			n += sb_ep_strip_inner(events + n, k);
		else if (k < 0 && n == 0)
			return -errno;
	}
	return n;
}

/* Announces a sleep on every circuit; true if one became ready meanwhile.  *retry: a connect waits for room. */
static bool sb_ep_arm(struct sb_ep *ep, bool *retry)
{
	bool ready = false;
	for (size_t i = 0; i < ep->n; i++) {
		struct sb_ep_reg *r = &ep->regs[i];
		r->armed = 0;
		if (r->sock == NULL) {
			if (!r->disabled) {
				pthread_mutex_lock(&r->nested->lock);
				ready |= sb_ep_arm(r->nested, retry); /* its circuits must ring for our sleep too */
				pthread_mutex_unlock(&r->nested->lock);
			}
			continue;
		}
		if (!r->disabled && r->sock->udp == NULL && sb_sock_connecting(r->sock))
			*retry = true;
		if (r->kind == SB_EP_DGRAM) {
			if (!r->disabled && (r->events & (EPOLLIN | EPOLLRDNORM))) {
				r->armed = POLLIN;
				if (sb_udp_arm(r->sock))
					ready = true;
			}
			continue;
		}
		if (r->kind != SB_EP_CIRCUIT || r->disabled || r->sock->circuit != r->watched)
			continue;
		unsigned want = (r->events & (EPOLLIN | EPOLLRDNORM | EPOLLRDHUP) ? POLLIN : 0) |
				(r->events & (EPOLLOUT | EPOLLWRNORM) ? POLLOUT : 0);
		if (want == 0)
			continue;
		r->armed = want;
		if (sb_circuit_arm(r->sock->circuit, want) != 0)
			ready = true;
	}
	return ready;
}

static void sb_ep_disarm(struct sb_ep *ep)
{
	for (size_t i = 0; i < ep->n; i++) {
		struct sb_ep_reg *r = &ep->regs[i];
		if (r->sock == NULL) {
			pthread_mutex_lock(&r->nested->lock);
			sb_ep_disarm(r->nested);
			pthread_mutex_unlock(&r->nested->lock);
			continue;
		}
		if (r->armed && r->kind == SB_EP_DGRAM)
			sb_udp_disarm(r->sock);
		else if (r->armed && r->kind == SB_EP_CIRCUIT && r->sock->circuit == r->watched)
			sb_circuit_disarm(r->sock->circuit, r->armed);
		r->armed = 0;
	}
}

int sb_epoll_wait_sockets(int epfd, struct epoll_event *events, int max, int64_t timeout_ns, const sigset_t *sigmask)
{
	if (max <= 0)
		return -EINVAL;
	struct sb_ep *ep = sb_ep_find(epfd);
	if (ep == NULL)
		return -ENOENT; /* the caller checked sb_epoll_knows_sockets */
	int64_t deadline = timeout_ns < 0 ? -1 : sb_now_ns() + timeout_ns;
	for (;;) {
		pthread_mutex_lock(&ep->lock);
		int n = sb_ep_look(ep, events, max);
		int64_t left = deadline < 0 ? -1 : deadline - sb_now_ns();
		if (n != 0 || (deadline >= 0 && left <= 0)) {
			pthread_mutex_unlock(&ep->lock);
			return n;
		}
		bool retry = false;
		bool raced = sb_ep_arm(ep, &retry);
		pthread_mutex_unlock(&ep->lock);
		if (retry && (left < 0 || left > SB_CONNECT_RETRY_NS))
			left = SB_CONNECT_RETRY_NS; /* nothing rings for a full queue that empties: look again soon */
		int k = 0;
		if (!raced) {
			struct timespec ts = { .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
			k = libc_epoll_pwait2(epfd, events, max, left < 0 ? NULL : &ts, sigmask);
			if (k < 0 && errno == ENOSYS)
				k = libc_epoll_pwait(epfd, events, max, left < 0 ? -1 : (int)((left + 999999) / 1000000), sigmask);
		}
		int e = errno;
		pthread_mutex_lock(&ep->lock);
		sb_ep_disarm(ep);
		pthread_mutex_unlock(&ep->lock);
		if (k < 0)
			return -e; /* EINTR among them, as the kernel */
		k = sb_ep_strip_inner(events, k);
		if (k > 0)
			return k; /* the program's own fds; ours get their turn in the next call */
	}
}

void sb_epoll_fd_closing(int fd)
{
	bool epfd = sb_epoll_is_epfd(fd);
	if (epfd)
		atomic_fetch_and(&sb_is_epfd[fd / 8], (uint8_t)~(1u << (fd % 8)));
	if (atomic_load_explicit(&sb_eps_count, memory_order_relaxed) == 0)
		return;
	if (!epfd && sb_sock_get(fd) == NULL)
		return; /* neither an epoll instance nor one of our sockets: no interest list has it (every close() comes here) */
	pthread_mutex_lock(&sb_eps_lock);
	for (struct sb_ep **p = &sb_eps; *p != NULL;) {
		struct sb_ep *ep = *p;
		if (ep->epfd == fd) {
			/* The program closes its epoll instance: the inner one goes too. */
			*p = ep->next;
			atomic_fetch_sub(&sb_eps_count, 1);
			libc_close(ep->inner);
			pthread_mutex_destroy(&ep->lock);
			free(ep->regs);
			free(ep);
			continue;
		}
		pthread_mutex_lock(&ep->lock);
		struct sb_ep_reg *r = sb_ep_reg_of(ep, fd);
		if (r != NULL)
			sb_ep_remove(ep, r);
		pthread_mutex_unlock(&ep->lock);
		p = &ep->next;
	}
	pthread_mutex_unlock(&sb_eps_lock);
}

/* ---- an epoll fd in poll()/select() ---- */

bool sb_epoll_peek_fd(int epfd)
{
	struct sb_ep *ep = sb_ep_find(epfd);
	return ep != NULL && sb_ep_peek(ep, 1);
}

bool sb_epoll_arm_fd(int epfd, bool *retry)
{
	struct sb_ep *ep = sb_ep_find(epfd);
	if (ep == NULL)
		return false;
	pthread_mutex_lock(&ep->lock);
	bool ready = sb_ep_arm(ep, retry);
	pthread_mutex_unlock(&ep->lock);
	return ready;
}

void sb_epoll_disarm_fd(int epfd)
{
	struct sb_ep *ep = sb_ep_find(epfd);
	if (ep == NULL)
		return;
	pthread_mutex_lock(&ep->lock);
	sb_ep_disarm(ep);
	pthread_mutex_unlock(&ep->lock);
}
