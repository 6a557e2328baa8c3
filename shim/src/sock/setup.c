/*
 * Setting sockets up and taking them down: socket, bind, listen, accept,
 * shutdown, close (connect is sock/connect.c).  Each asks the state machine what Linux does,
 * and where the answer depends on the rest of the world (is the port free?
 * does anyone listen there?), asks the operator first.
 *
 * Functions return >= 0 or -errno; sb_* in runtime_*.c turn that into
 * -1/errno, so errno is untouched on success.
 */
#include "setup.h"
#include "setup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "circuit/internal.h"
#include "debug.h"
#include "control.h"
#include "sb_libc.h"
#include "udp/udp.h"

/* Linux's default net.core.somaxconn: listen() clamps the backlog to it. */
#define SB_SOMAXCONN 4096

int sb_errno_reply(const struct sb_control_reply *r)
{
	return r->msg.type == SB_PROTO_MSG_ERROR ? -r->msg.as.error.errnum : -EPROTO;
}

/*
 * Puts `newfd` (a kernel fd the operator gave us) in place of the program's
 * fd number, keeping its close-on-exec flag and the socket's O_NONBLOCK, and
 * closes newfd's own number.
 */
int sb_replace_fd(int fd, int newfd, bool nonblock)
{
	int fdflags = libc_fcntl(fd, F_GETFD, NULL);
	if (fdflags < 0)
		return -errno;
	if (nonblock) {
		int fl = libc_fcntl(newfd, F_GETFL, NULL);
		if (fl >= 0)
			libc_fcntl(newfd, F_SETFL, (void *)(intptr_t)(fl | O_NONBLOCK));
	}
	if (libc_dup3(newfd, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0) {
		int e = errno;
		libc_close(newfd);
		return -e;
	}
	libc_close(newfd);
	return 0;
}

/* A fresh placeholder kernel socket: what an unconnected, unbound socket's fd is. */
int sb_placeholder(int type_flags)
{
	int fd = libc_socket(AF_UNIX, SOCK_SEQPACKET | (type_flags & (SOCK_NONBLOCK | SOCK_CLOEXEC)), 0);
	return fd < 0 ? -errno : fd;
}

int sb_sock_socket(int domain, int type)
{
	int fd = sb_placeholder(type);
	if (fd < 0)
		return fd;
	struct sb_sock *s = sb_sock_new(domain, type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC), (type & SOCK_NONBLOCK) != 0);
	if (s == NULL) {
		libc_close(fd);
		return -ENOMEM;
	}
	s->local_len = sb_addr_any(domain, &s->local);
	return sb_sock_register(fd, s);
}

int sb_sock_register(int fd, struct sb_sock *s)
{
	int rc = sb_sock_put(fd, s);
	if (rc < 0) {
		sb_sock_free(s);
		libc_close(fd);
		return rc;
	}
	return fd;
}

uint8_t sb_bind_options(const struct sb_sock *s)
{
	uint8_t o = 0;
	if (s->opts.reuseaddr)
		o |= SB_PROTO_BIND_OPTIONS_REUSE_ADDR;
	if (s->opts.reuseport)
		o |= SB_PROTO_BIND_OPTIONS_REUSE_PORT;
	if (s->opts.v6only)
		o |= SB_PROTO_BIND_OPTIONS_V6ONLY;
	return o;
}

int sb_reserve(struct sb_sock *s, int fd, const struct sb_proto_addr *addr)
{
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_BIND };
	req.as.bind.socket_type = s->type == SOCK_DGRAM ? SB_PROTO_SOCKET_TYPE_DGRAM : SB_PROTO_SOCKET_TYPE_STREAM;
	req.as.bind.address = *addr;
	req.as.bind.options = sb_bind_options(s);
	struct sb_control_reply r;
	int rc = sb_control_request(&req, NULL, 0, &r, false);
	if (rc < 0)
		return rc == -ECONNREFUSED ? -EADDRNOTAVAIL : rc; /* no operator: no address can be ours */
	if (r.msg.type != SB_PROTO_MSG_BIND_REPLY) {
		sb_control_drop_fds(&r);
		return sb_errno_reply(&r);
	}
	rc = sb_replace_fd(fd, r.fds[SB_PROTO_BIND_REPLY_FD_PORT], s->nonblock);
	if (rc < 0)
		return rc;
	s->reservation = r.msg.as.bind_reply.reservation;
	s->local_len = sb_addr_from_proto(s->domain, &r.msg.as.bind_reply.address, &s->local);
	s->port_held = true;
	return 0;
}

/* Gives the reservation back (the port fd was closed, or is about to be) so that a re-bind succeeds at once. */
void sb_release(struct sb_sock *s)
{
	if (s->reservation == 0)
		return;
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_RELEASE };
	req.as.release.reservation = s->reservation;
	struct sb_control_reply r;
	if (sb_control_request(&req, NULL, 0, &r, false) == 0)
		sb_control_drop_fds(&r);
	s->reservation = 0;
	s->port_held = false;
}

int sb_sock_bind(struct sb_sock *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	int rc = sb_addr_check_bind(s->domain, addr, len);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	sb_sock_sync(s);
	struct sb_call call = { .call = SB_STREAM_C_BIND, .port = SB_STREAM_PORT_FREE };
	const struct sb_case *k = sb_sock_decide(s, &call);
	if (k->then.local == SB_LOCAL_BIND) {
		/* Only the operator knows whether the address is free. */
		struct sb_proto_addr want;
		sb_addr_bind_request(addr, &want);
		rc = sb_reserve(s, fd, &want);
		if (rc == -EADDRINUSE) {
			call.port = SB_STREAM_PORT_TAKEN;
			k = sb_sock_decide(s, &call);
		} else if (rc < 0) {
			goto out; /* EADDRNOTAVAIL, EACCES (policy)…: not the machine's business */
		} else if (s->opts.reuseaddr) {
			call.port = SB_STREAM_PORT_SHARED;
			k = sb_sock_decide(s, &call);
		}
	}
	rc = -sb_sock_errno(s, &k->then);
	if (k->then.local == SB_LOCAL_DISCONNECT && rc != 0) {
		/* inet_bind sets the address before it finds the port taken, then resets it. */
		if (!s->addr_locked)
			sb_addr_reset_to_any(&s->local);
	}
	if (rc == 0 && k->then.local == SB_LOCAL_BIND) {
		struct sockaddr_storage ss;
		memcpy(&ss, addr, len < sizeof ss ? len : sizeof ss);
		s->addr_locked = !sb_addr_is_any(&ss);
	}
	sb_sock_apply(s, &k->then);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sb_sock_listen(struct sb_sock *s, int fd, int backlog)
{
	pthread_mutex_lock(&s->lock);
	sb_sock_sync(s);
	struct sb_call call = { .call = SB_STREAM_C_LISTEN };
	const struct sb_case *k = sb_sock_decide(s, &call);
	int rc = -sb_sock_errno(s, &k->then);
	if (rc < 0) {
		sb_sock_apply(s, &k->then);
		goto out;
	}
	if (k->then.local == SB_LOCAL_AUTOBIND && !s->port_held) {
		struct sb_proto_addr any;
		struct sockaddr_storage ss;
		sb_addr_any(s->domain, &ss);
		sb_addr_to_proto((struct sockaddr *)&ss, &any);
		rc = sb_reserve(s, fd, &any);
		if (rc < 0)
			goto out;
	}
	unsigned b = backlog < 0 ? SB_SOMAXCONN : (unsigned)backlog > SB_SOMAXCONN ? SB_SOMAXCONN : (unsigned)backlog;
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_LISTEN };
	req.as.listen.reservation = s->reservation;
	req.as.listen.backlog = b;
	struct sb_control_reply r;
	rc = sb_control_request(&req, NULL, 0, &r, false);
	if (rc == 0) {
		sb_control_drop_fds(&r);
		rc = r.msg.type == SB_PROTO_MSG_OK ? 0 : sb_errno_reply(&r);
		/* A second listen() only changes the backlog: an operator that says it already listens agrees. */
		if (rc == -EINVAL && s->state == SB_STREAM_S_LISTENING)
			rc = 0;
	}
	if (rc == 0) {
		s->backlog = b;
		sb_sock_apply(s, &k->then);
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* Waits for the listening fd to become readable (a connection queued): 0, -EINTR, -EAGAIN after SO_RCVTIMEO. */
static int sb_wait_readable(int fd, int64_t timeout_ns)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int ms = timeout_ns > 0 ? (int)((timeout_ns + 999999) / 1000000) : -1;
	int n = libc_poll(&p, 1, ms);
	if (n < 0)
		return -errno;
	return n == 0 ? -EAGAIN : 0;
}

/* One queued connection from the listener's port fd, without waiting: 1 and *r, 0 if none, or -errno. */
static int sb_take_incoming(int fd, struct sb_control_reply *r)
{
	unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE];
	bool truncated = false;
	ssize_t n = sb_control_recvmsg(fd, MSG_DONTWAIT, buf, sizeof buf, r, &truncated);
	if (n < 0)
		return n == -EAGAIN ? 0 : (int)n;
	if (n == 0 || truncated || sb_proto_decode(buf, (size_t)n, SB_PROTO_ROUTE_PORT, &r->msg, NULL) != SB_PROTO_OK ||
	    r->msg.type != SB_PROTO_MSG_INCOMING || r->nfds != SB_PROTO_INCOMING_FDS ||
	    r->msg.as.incoming.socket_type != SB_PROTO_SOCKET_TYPE_STREAM) {
		sb_control_drop_fds(r);
		return -ECONNABORTED;
	}
	return 1;
}

/* Makes the accepted connection a socket: maps its circuit, registers its endpoint fd. The fd, or -errno. */
static int sb_adopt_incoming(struct sb_sock *listener, struct sb_control_reply *r, const struct sb_outcome *o,
			     int flags, struct sockaddr *addr, socklen_t *addrlen)
{
	const struct sb_proto_incoming *in = &r->msg.as.incoming;
	int memfd = r->fds[SB_PROTO_INCOMING_FD_MEMFD], endpoint = r->fds[SB_PROTO_INCOMING_FD_ENDPOINT];
	struct sb_sock *s = sb_sock_new(listener->domain, SOCK_STREAM, (flags & SOCK_NONBLOCK) != 0);
	struct sb_circuit *c = calloc(1, sizeof *c);
	int rc = -ENOMEM;
	if (s == NULL || c == NULL)
		goto fail;
	rc = sb_circuit_attach(c, memfd, endpoint, SB_ROLE_ACCEPTOR);
	if (rc < 0)
		goto fail;
	libc_close(memfd);
	memfd = -1;
	s->circuit = c;
	c = NULL;
	s->circuit_id = in->circuit;
	s->state = (uint8_t)o->spawns;
	s->local_len = sb_addr_from_proto(s->domain, &in->local, &s->local);
	s->peer_len = sb_addr_from_proto(s->domain, &in->peer, &s->peer);
	s->port_held = true; /* the listener's port */
	/* Options a connection inherits from its listener on Linux. */
	s->opts = listener->opts;
	if (flags & SOCK_NONBLOCK) {
		int fl = libc_fcntl(endpoint, F_GETFL, NULL);
		libc_fcntl(endpoint, F_SETFL, (void *)(intptr_t)(fl | O_NONBLOCK));
	}
	if (!(flags & SOCK_CLOEXEC))
		libc_fcntl(endpoint, F_SETFD, (void *)(intptr_t)0); /* it arrived close-on-exec (MSG_CMSG_CLOEXEC) */
	rc = sb_sock_put(endpoint, s);
	if (rc < 0)
		goto fail;
	sb_circuit_fdtab_register(endpoint, s->circuit);
	sb_addr_copy_out(&s->peer, s->peer_len, addr, addrlen);
	return endpoint;
fail:
	if (memfd >= 0)
		libc_close(memfd);
	libc_close(endpoint);
	free(c);
	if (s != NULL)
		sb_sock_free(s);
	return rc;
}

int sb_sock_accept(struct sb_sock *s, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	for (;;) {
		struct sb_control_reply r;
		struct sb_call call = { .call = SB_STREAM_C_ACCEPT };
		int got = 0;
		if (s->state == SB_STREAM_S_LISTENING) {
			got = sb_take_incoming(fd, &r);
			if (got < 0)
				return got;
		}
		call.pending = got == 1;
		pthread_mutex_lock(&s->lock);
		const struct sb_case *k = sb_sock_decide(s, &call);
		struct sb_outcome o = k->then;
		int err = sb_sock_errno(s, &o);
		sb_sock_apply(s, &o);
		bool nonblock = s->nonblock;
		int64_t timeout = s->opts.rcvtimeo_ns;
		pthread_mutex_unlock(&s->lock);
		if (o.returns == SB_RETURNS_FD && got == 1)
			return sb_adopt_incoming(s, &r, &o, flags, addr, addrlen);
		if (got == 1) /* the machine said no after all (it changed state meanwhile): give the connection up */
			sb_control_drop_fds(&r);
		if (err)
			return -err;
		if (!o.blocks)
			return -EAGAIN;
		(void)nonblock;
		int rc = sb_wait_readable(fd, timeout);
		if (rc < 0)
			return rc;
	}
}

/* ---- shutdown and close ---- */

int sb_sock_shutdown(struct sb_sock *s, int fd, int how)
{
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	sb_sock_sync(s);
	struct sb_call call = { .call = SB_STREAM_C_SHUTDOWN,
				.how = how == SHUT_RD ? SB_STREAM_HOW_SHUT_RD
				       : how == SHUT_WR ? SB_STREAM_HOW_SHUT_WR
							: SB_STREAM_HOW_SHUT_RDWR };
	const struct sb_case *k = sb_sock_decide(s, &call);
	struct sb_outcome o = k->then;
	int rc = -sb_sock_errno(s, &o);
	if (o.local == SB_LOCAL_DISCONNECT) {
		sb_disconnect(s, fd, false);
	} else if (rc == 0 && s->circuit != NULL) {
		/* The machine says what changes; the circuit carries a FIN when our writing side closes. */
		sb_circuit_shutdown(s->circuit, how);
	}
	sb_sock_apply(s, &o);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/* The socket's end in this process: our last fd of it is gone (closed, or replaced by dup2). */
static void sb_sock_end(struct sb_sock *s, int fd, bool kernel_fd_open)
{
	/*
	 * If no other process can hold the socket, this is its end: send what the
	 * kernel would (FIN, or RST with unread data or SO_LINGER 0) and give the
	 * port back at once.  Otherwise the kernel's hang-up, when the last holder
	 * closes, tells the peer and the operator.
	 */
	bool last = !sb_sock_maybe_shared(s);
	if (s->udp != NULL)
		sb_udp_end(s, last); /* its flows, and the port when this was the last holder */
	if (last && s->circuit != NULL) {
		if (s->opts.linger.l_onoff && s->opts.linger.l_linger == 0) {
			sb_debug("circuit %llu: closed with SO_LINGER 0: reset", (unsigned long long)s->circuit_id);
			sb_circuit_reset(s->circuit);
		} else {
			if (sb_debug_enabled()) {
				struct sb_circuit_view v;
				sb_circuit_view(s->circuit, &v);
				if (v.readable > 0)
					sb_debug("circuit %llu: closed with %llu bytes unread: reset", (unsigned long long)s->circuit_id,
						 (unsigned long long)v.readable);
			}
			sb_circuit_close(s->circuit);
		}
	}
	if (s->port_fd >= 0) {
		libc_close(s->port_fd);
		s->port_fd = -1;
	}
	if (kernel_fd_open)
		libc_close(fd);
	if (last)
		sb_release(s);
	sb_sock_free(s);
}

/*
 * fd, one of the socket's numbers, goes away while others stay (dup, then
 * close: sshd moves its connection from 0 to 4): the circuit rings and
 * watches through one that stays.
 */
static void sb_sock_fd_leaving(struct sb_sock *s, int fd)
{
	pthread_mutex_lock(&s->lock);
	if (s->pending_fd == fd)
		s->pending_fd = sb_sock_other_fd(s, fd);
	if (s->circuit != NULL && s->circuit->endpoint_fd == fd) {
		int other = sb_sock_other_fd(s, fd);
		if (other >= 0) {
			s->circuit->endpoint_fd = other;
			sb_circuit_fdtab_register(other, s->circuit);
		}
	}
	pthread_mutex_unlock(&s->lock);
}

int sb_sock_close(int fd)
{
	struct sb_sock *s = sb_sock_take(fd);
	if (s == NULL)
		return libc_close(fd) < 0 ? -errno : 0;
	sb_circuit_fdtab_unregister(fd);
	if (s->refs > 0) {
		sb_sock_fd_leaving(s, fd);
		return libc_close(fd) < 0 ? -errno : 0;
	}
	int saved = errno;
	sb_sock_end(s, fd, true);
	errno = saved;
	return 0;
}

void sb_sock_dropped(int fd)
{
	struct sb_sock *s = sb_sock_take(fd);
	if (s == NULL)
		return;
	sb_circuit_fdtab_unregister(fd);
	if (s->refs == 0)
		sb_sock_end(s, fd, false);
	else
		sb_sock_fd_leaving(s, fd);
}
