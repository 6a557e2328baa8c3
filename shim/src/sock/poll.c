/*
 * poll/ppoll (and select/pselect on top) over a mix of kernel fds and the
 * shim's sockets.
 *
 * What a socket of ours reports comes from the state machine's readiness for
 * its state (sb_sock_poll), not from the kernel fd behind it: a circuit's
 * endpoint fd is readable when a doorbell byte is waiting, which says nothing
 * about the ring.  The kernel fds still matter: an endpoint's hang-up is how a
 * dead peer shows, its doorbell is what wakes a sleeper, and a listening
 * socket's port fd is readable exactly when a connection is queued.
 *
 * One round: look at everything without sleeping; if nothing is ready,
 * announce on every circuit that we are going to sleep (so the peers ring),
 * look again (a peer may have acted in between: barrier pair [D] of ring.h),
 * then sleep in the kernel on all the fds at once, and start over.
 */
#include "readiness.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "circuit/internal.h"
#include "sb_libc.h"
#include "epoll.h"
#include "setup.h"
#include "udp/udp.h"

/* How each pollfd is watched in the kernel. */
enum sb_watch {
	SB_WATCH_KERNEL,   /* not ours: the kernel answers */
	SB_WATCH_PORT,     /* our listening socket: its port fd's POLLIN is the accept queue */
	SB_WATCH_CIRCUIT,  /* our connected socket: the endpoint wakes us, the machine answers */
	SB_WATCH_NONE,     /* our socket with nothing that can change by itself (fresh, bound, …) */
	SB_WATCH_EPOLL,    /* an epoll fd with sockets of ours: readable when epoll_wait would return */
	SB_WATCH_DGRAM,    /* our datagram socket with a port: its wake fd wakes us (udp/udp.h), the machine answers */
};

static enum sb_watch sb_watch_of(const struct sb_sock *s)
{
	if (s == NULL)
		return SB_WATCH_KERNEL;
	if (s->udp != NULL)
		return sb_udp_wake_fd(s) >= 0 ? SB_WATCH_DGRAM : SB_WATCH_NONE;
	if (s->state == SB_STREAM_S_LISTENING)
		return SB_WATCH_PORT;
	if (s->circuit != NULL)
		return SB_WATCH_CIRCUIT;
	return SB_WATCH_NONE;
}

/* The events of ours the program asked for, plus those poll always reports. */
static short sb_wanted(short events)
{
	short w = events | POLLERR | POLLHUP | POLLNVAL;
	return w;
}

/* The waits poll announces on a circuit for the events asked (and withdraws exactly those after). */
static unsigned sb_armed(short events)
{
	return (events & (POLLIN | POLLRDNORM) ? POLLIN : 0) | (events & (POLLOUT | POLLWRNORM) ? POLLOUT : 0);
}

/* What the socket reports now; `kernel` is its kernel fd's revents from the last look. */
static short sb_sock_revents(struct sb_sock *s, enum sb_watch w, short events, short kernel)
{
	if (s->udp != NULL)
		return (short)(sb_udp_poll(s) & (unsigned)(unsigned short)sb_wanted(events));
	if (w == SB_WATCH_PORT) {
		/* A listener shows only its queue (tcp_poll → inet_csk_listen_poll). */
		return (short)(kernel & (events & (POLLIN | POLLRDNORM)));
	}
	if (w == SB_WATCH_CIRCUIT && (kernel & (POLLHUP | POLLERR)))
		sb_circuit_probe_peer(s->circuit); /* the peer's endpoint hung up: it is gone */
	pthread_mutex_lock(&s->lock);
	sb_sock_sync(s);
	sb_sock_settle_connect(s, false); /* a connect under way: has the listener made room? */
	unsigned ev = sb_sock_poll(s);
	pthread_mutex_unlock(&s->lock);
	return (short)(ev & (unsigned)(unsigned short)sb_wanted(events));
}

/*
 * Before the first sleep of a poll() that watches datagram sockets: spin for
 * the circuits' spin budget, looking at those sockets only (no system call).
 * A busy peer's next datagram usually comes sooner than a sleep and its
 * wake-up would take (~20 µs on these VMs), and a sleep costs the peer a
 * doorbell too.  True if one of them became ready: then look at everything.
 */
static bool sb_poll_spin_dgram(const struct pollfd *fds, struct sb_sock **socks, const enum sb_watch *watch, nfds_t n,
			       int64_t deadline)
{
	uint32_t budget = sb_spin_initial_ns();
	if (budget == 0)
		return false;
	int64_t until = sb_now_ns() + budget;
	if (deadline >= 0 && deadline < until)
		until = deadline;
	do {
		for (nfds_t i = 0; i < n; i++)
			if (watch[i] == SB_WATCH_DGRAM && (sb_udp_poll(socks[i]) & (unsigned)(unsigned short)fds[i].events))
				return true;
	} while (sb_now_ns() < until);
	return false;
}

int sb_poll_sockets(struct pollfd *fds, nfds_t n, int64_t timeout_ns, const sigset_t *sigmask)
{
	struct pollfd stack_k[64];
	struct sb_sock *stack_s[64];
	enum sb_watch stack_w[64];
	struct pollfd *k = n <= 64 ? stack_k : calloc(n, sizeof *k);
	struct sb_sock **socks = n <= 64 ? stack_s : calloc(n, sizeof *socks);
	enum sb_watch *watch = n <= 64 ? stack_w : calloc(n, sizeof *watch);
	if (k == NULL || socks == NULL || watch == NULL) {
		if (n > 64) {
			free(k);
			free(socks);
			free(watch);
		}
		return -ENOMEM;
	}
	int64_t deadline = timeout_ns < 0 ? -1 : sb_now_ns() + timeout_ns;
	int result;
	bool slept = false, spun = false;
	for (;;) {
		/* Who is who, and what the kernel watches for each (states change between rounds);
		 * after a sleep, keep what the kernel said. */
		for (nfds_t i = 0; i < n && !slept; i++) {
			socks[i] = fds[i].fd >= 0 ? sb_sock_get(fds[i].fd) : NULL;
			watch[i] = sb_watch_of(socks[i]);
			if (watch[i] == SB_WATCH_KERNEL && fds[i].fd >= 0 && sb_epoll_knows_sockets(fds[i].fd))
				watch[i] = SB_WATCH_EPOLL;
			k[i].fd = fds[i].fd;
			k[i].revents = 0;
			switch (watch[i]) {
			case SB_WATCH_KERNEL:
				k[i].events = fds[i].events;
				break;
			case SB_WATCH_PORT:
				k[i].events = POLLIN;
				break;
			case SB_WATCH_CIRCUIT:
				k[i].events = POLLIN; /* doorbells; hang-ups come anyway */
				break;
			case SB_WATCH_EPOLL:
				k[i].events = POLLIN; /* its kernel side, and its inner instance's doorbells */
				break;
			case SB_WATCH_NONE:
				k[i].fd = -1;
				break;
			case SB_WATCH_DGRAM:
				k[i].fd = sb_udp_wake_fd(socks[i]);
				k[i].events = POLLIN;
				break;
			}
		}
		/* A look without sleeping (unless we just woke up from a sleep: then the revents are fresh). */
		if (!slept) {
			int rc = libc_poll(k, n, 0);
			if (rc < 0) {
				result = -errno;
				break;
			}
		}
		slept = false;
		int ready = 0;
		for (nfds_t i = 0; i < n; i++) {
			short r;
			if (watch[i] == SB_WATCH_KERNEL)
				r = k[i].revents;
			else if (watch[i] == SB_WATCH_EPOLL)
				r = (short)(fds[i].events & POLLIN && ((k[i].revents & POLLIN) || sb_epoll_peek_fd(fds[i].fd)) ? POLLIN : 0);
			else
				r = sb_sock_revents(socks[i], watch[i], fds[i].events, k[i].revents);
			fds[i].revents = r;
			ready += r != 0;
		}
		int64_t left = deadline < 0 ? -1 : deadline - sb_now_ns();
		if (ready > 0 || (deadline >= 0 && left <= 0)) {
			result = ready;
			break;
		}
		/* Nothing: spin a little for datagram sockets, then announce on every circuit, look once more, and sleep. */
		if (!spun) {
			spun = true;
			bool dgram = false;
			for (nfds_t i = 0; i < n && !dgram; i++)
				dgram = watch[i] == SB_WATCH_DGRAM;
			if (dgram && sb_poll_spin_dgram(fds, socks, watch, n, deadline))
				continue;
		}
		bool raced = false;
		for (nfds_t i = 0; i < n; i++) {
			if (socks[i] != NULL && sb_sock_connecting(socks[i]) && (left < 0 || left > SB_CONNECT_RETRY_NS))
				left = SB_CONNECT_RETRY_NS; /* nothing rings for a full queue that empties: look again soon */
			if (watch[i] == SB_WATCH_EPOLL) {
				bool retry = false;
				if (sb_epoll_arm_fd(fds[i].fd, &retry))
					raced = true;
				if (retry && (left < 0 || left > SB_CONNECT_RETRY_NS))
					left = SB_CONNECT_RETRY_NS;
				continue;
			}
			if (watch[i] == SB_WATCH_DGRAM) {
				if (sb_udp_arm(socks[i]))
					raced = true;
				continue;
			}
			if (watch[i] != SB_WATCH_CIRCUIT)
				continue;
			if (sb_circuit_arm(socks[i]->circuit, sb_armed(fds[i].events)) != 0)
				raced = true;
		}
		if (!raced) {
			struct timespec ts, *tsp = NULL;
			if (left >= 0) {
				ts.tv_sec = left / 1000000000;
				ts.tv_nsec = left % 1000000000;
				tsp = &ts;
			}
			for (nfds_t i = 0; i < n; i++)
				k[i].revents = 0;
			int rc = libc_ppoll(k, n, tsp, sigmask);
			if (rc < 0) {
				int e = errno;
				for (nfds_t i = 0; i < n; i++)
					if (watch[i] == SB_WATCH_CIRCUIT)
						sb_circuit_disarm(socks[i]->circuit, sb_armed(fds[i].events));
					else if (watch[i] == SB_WATCH_DGRAM)
						sb_udp_disarm(socks[i]);
					else if (watch[i] == SB_WATCH_EPOLL)
						sb_epoll_disarm_fd(fds[i].fd);
				result = -e;
				break;
			}
			slept = true;
		}
		for (nfds_t i = 0; i < n; i++) {
			if (watch[i] == SB_WATCH_EPOLL)
				sb_epoll_disarm_fd(fds[i].fd);
			if (watch[i] == SB_WATCH_DGRAM) {
				sb_udp_disarm(socks[i]);
				if (k[i].revents & POLLIN)
					sb_udp_ack(socks[i]);
				continue;
			}
			if (watch[i] != SB_WATCH_CIRCUIT)
				continue;
			sb_circuit_disarm(socks[i]->circuit, sb_armed(fds[i].events));
			if (k[i].revents & (POLLIN | POLLHUP | POLLERR))
				sb_circuit_ack_doorbell(socks[i]->circuit);
		}
	}
	if (n > 64) {
		free(k);
		free(socks);
		free(watch);
	}
	return result;
}

bool sb_poll_has_socket(const struct pollfd *fds, nfds_t n)
{
	for (nfds_t i = 0; i < n; i++)
		if (fds[i].fd >= 0 && (sb_sock_get(fds[i].fd) != NULL || sb_epoll_knows_sockets(fds[i].fd)))
			return true;
	return false;
}

int sb_select_sockets(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int64_t timeout_ns, const sigset_t *sigmask)
{
	if (nfds < 0 || nfds > FD_SETSIZE)
		return -EINVAL;
	struct pollfd stack[64];
	struct pollfd *p = stack;
	int count = 0;
	for (int fd = 0; fd < nfds; fd++)
		if ((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex)))
			count++;
	if (count > 64 && (p = calloc((size_t)count, sizeof *p)) == NULL)
		return -ENOMEM;
	int i = 0;
	for (int fd = 0; fd < nfds; fd++) {
		short ev = 0;
		if (rd && FD_ISSET(fd, rd))
			ev |= POLLIN;
		if (wr && FD_ISSET(fd, wr))
			ev |= POLLOUT;
		if (ex && FD_ISSET(fd, ex))
			ev |= POLLPRI;
		if (ev)
			p[i++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	int rc = sb_poll_sockets(p, (nfds_t)count, timeout_ns, sigmask);
	if (rc >= 0) {
		/* select's sets, as the kernel fills them from poll bits (fs/select.c). */
		int bits = 0;
		for (int j = 0; j < count; j++) {
			if (p[j].revents & POLLNVAL) {
				rc = -EBADF;
				break;
			}
		}
		if (rc >= 0) {
			if (rd)
				FD_ZERO(rd);
			if (wr)
				FD_ZERO(wr);
			if (ex)
				FD_ZERO(ex);
			for (int j = 0; j < count; j++) {
				short r = p[j].revents, e = p[j].events;
				if ((e & POLLIN) && (r & (POLLIN | POLLRDNORM | POLLHUP | POLLERR))) {
					FD_SET(p[j].fd, rd);
					bits++;
				}
				if ((e & POLLOUT) && (r & (POLLOUT | POLLWRNORM | POLLERR))) {
					FD_SET(p[j].fd, wr);
					bits++;
				}
				if ((e & POLLPRI) && (r & POLLPRI)) {
					FD_SET(p[j].fd, ex);
					bits++;
				}
			}
			rc = bits;
		}
	}
	if (p != stack)
		free(p);
	return rc;
}

bool sb_select_has_socket(int nfds, const fd_set *rd, const fd_set *wr, const fd_set *ex)
{
	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		if (((rd && FD_ISSET(fd, rd)) || (wr && FD_ISSET(fd, wr)) || (ex && FD_ISSET(fd, ex))) &&
		    (sb_sock_get(fd) != NULL || sb_epoll_knows_sockets(fd)))
			return true;
	return false;
}
