/*
 * UDP sockets over datagram circuits (udp.h): the machine decides, the
 * operator reserves ports and grants a circuit per peer, flows.c moves the
 * datagrams.
 */
#include "udp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "circuit/internal.h"
#include "circuit/iov.h"
#include "circuit/sys.h"
#include "flows.h"
#include "sb_libc.h"
#include "sb_machine_dgram.h"
#include "sock/addr.h"
#include "sock/control.h"
#include "sock/debug.h"
#include "sock/setup_internal.h"

_Static_assert((int)SB_DGRAM_NFACTS <= (int)SB_STREAM_NFACTS, "sb_sock.memory holds the datagram machine's memory too");

/* The largest UDP payload IPv4 and IPv6 can carry (65,535 minus the IP and UDP headers). */
#define SB_UDP_MAX_V4 65507u
#define SB_UDP_MAX_V6 65527u

/* A receiving socket's "listen" backlog: circuits from new peers that may wait in its port fd. */
#define SB_UDP_PEER_BACKLOG 4096u

/* ---- facts and decisions ---- */

struct sb_udp_facts {
	struct sb_sock *s;
	const struct sb_call *call;
};

static unsigned sb_udp_fact(void *ctx, unsigned fact)
{
	struct sb_udp_facts *f = ctx;
	const struct sb_call *c = f->call;
	int flags = c != NULL ? c->flags : 0;
	switch (fact) {
	case SB_DGRAM_F_NONBLOCKING:
		return f->s->nonblock || (flags & MSG_DONTWAIT);
	case SB_DGRAM_F_READABLE:
		return c != NULL && c->readable;
	case SB_DGRAM_F_TARGET:
		return c != NULL ? c->target : SB_DGRAM_TARGET_PEER;
	case SB_DGRAM_F_DEST:
		return c != NULL ? c->dest : SB_DGRAM_DEST_PEER;
	case SB_DGRAM_F_PORT:
		return c != NULL ? c->port : SB_DGRAM_PORT_FREE;
	case SB_DGRAM_F_HOW:
		return c != NULL ? c->how : SB_DGRAM_HOW_SHUT_RDWR;
	case SB_DGRAM_F_RECV_MODE:
		return (flags & MSG_PEEK)      ? SB_DGRAM_RECV_MODE_PEEK
		       : (flags & MSG_WAITALL) ? SB_DGRAM_RECV_MODE_WAITALL
		       : (flags & MSG_TRUNC)   ? SB_DGRAM_RECV_MODE_TRUNC
					       : SB_DGRAM_RECV_MODE_PLAIN;
	case SB_DGRAM_F_OVERSIZE:
		return c != NULL && c->len > (f->s->domain == AF_INET6 ? SB_UDP_MAX_V6 : SB_UDP_MAX_V4);
	case SB_DGRAM_F_PEER_GONE:
		return c != NULL && c->peer_gone;
	default:
		return fact < SB_DGRAM_NFACTS ? f->s->memory[fact] : 0;
	}
}

static struct sb_outcome sb_udp_decide(struct sb_sock *s, const struct sb_call *call)
{
	struct sb_udp_facts f = { .s = s, .call = call };
	return sb_machine_decide(&sb_machine_dgram, s->state, call->call, sb_udp_fact, &f)->then;
}

static void sb_udp_apply(struct sb_sock *s, const struct sb_outcome *o)
{
	if (o->to != SB_STATE_UNCHANGED)
		s->state = (uint8_t)o->to;
	for (unsigned i = 0; i < o->nset; i++)
		if (o->set[i].fact < SB_DGRAM_NFACTS)
			s->memory[o->set[i].fact] = o->set[i].value;
}

static int sb_udp_errno(const struct sb_sock *s, const struct sb_outcome *o)
{
	if (o->fails == SB_FAILS_PENDING) {
		switch (s->memory[SB_DGRAM_F_ERROR]) {
		case SB_DGRAM_ERROR_ECONNREFUSED:
			return ECONNREFUSED;
		case SB_DGRAM_ERROR_ECONNRESET:
			return ECONNRESET;
		case SB_DGRAM_ERROR_EPIPE:
			return EPIPE;
		default:
			return EIO;
		}
	}
	return o->fails > 0 ? o->fails : 0;
}

/* ---- addresses ---- */

/* Our address toward `dest` (both in the socket's domain): the bound one, or the loopback (or the destination itself) with our port. */
static void sb_udp_source_for(const struct sb_sock *s, const struct sockaddr_storage *dest, struct sockaddr_storage *out,
			      socklen_t *len)
{
	*out = s->local;
	*len = s->local_len;
	if (!sb_addr_is_any(&s->local))
		return;
	unsigned port = sb_addr_port(&s->local);
	if (out->ss_family == AF_INET) {
		struct sockaddr_in *o = (struct sockaddr_in *)out;
		const struct sockaddr_in *d = (const struct sockaddr_in *)dest;
		uint32_t a = ntohl(d->sin_addr.s_addr);
		o->sin_addr.s_addr = (a >> 24) == 127 ? htonl(INADDR_LOOPBACK) : d->sin_addr.s_addr;
	} else {
		struct sockaddr_in6 *o = (struct sockaddr_in6 *)out;
		const struct sockaddr_in6 *d = (const struct sockaddr_in6 *)dest;
		if (IN6_IS_ADDR_V4MAPPED(&d->sin6_addr)) {
			static const struct in6_addr mapped_loopback = { { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1 } } };
			o->sin6_addr = d->sin6_addr.s6_addr[12] == 127 ? mapped_loopback : d->sin6_addr;
		} else {
			o->sin6_addr = d->sin6_addr;
		}
	}
	sb_addr_set_port(out, port);
}

/*
 * The destination of a send, in the socket's domain (a wildcard means this
 * host: loopback, as Linux routes it).  1: there is none (no address given),
 * 0 and *out, or -errno as udp_sendmsg / udpv6_sendmsg check it.
 */
static int sb_udp_dest(const struct sb_sock *s, const struct msghdr *m, struct sockaddr_storage *out, socklen_t *len)
{
	if (m->msg_name == NULL || m->msg_namelen == 0)
		return 1;
	const struct sockaddr *a = m->msg_name;
	if (m->msg_namelen < sizeof(sa_family_t))
		return -EINVAL;
	if (a->sa_family == AF_UNSPEC && s->domain == AF_INET)
		return 1;
	struct sb_proto_addr p;
	if (s->domain == AF_INET) {
		if (m->msg_namelen < sizeof(struct sockaddr_in))
			return -EINVAL;
		if (a->sa_family != AF_INET)
			return -EAFNOSUPPORT;
	} else if (a->sa_family == AF_INET) {
		/* udpv6_sendmsg hands an AF_INET destination to IPv4, unless the socket is IPv6-only. */
		if (m->msg_namelen < sizeof(struct sockaddr_in))
			return -EINVAL;
		if (s->opts.v6only)
			return -ENETUNREACH;
	} else {
		if (m->msg_namelen < 24 /* SIN6_LEN_RFC2133: without sin6_scope_id */)
			return -EINVAL;
		if (a->sa_family != AF_INET6)
			return -EAFNOSUPPORT;
	}
	sb_addr_connect_target(s->domain, a, &p);
	if (p.port == 0)
		return -EINVAL;
	p.flowinfo = 0;
	p.scope_id = 0;
	*len = sb_addr_from_proto(s->domain, &p, out);
	return 0;
}

/* ---- the port: reserve it, receive circuits on it ---- */

/* Asks the operator for the circuits of new peers: the mailbox that announces them. 0 or -errno. */
static int sb_udp_listen(struct sb_sock *s, int fd)
{
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_LISTEN };
	req.as.listen.reservation = s->reservation;
	req.as.listen.backlog = SB_UDP_PEER_BACKLOG;
	struct sb_control_reply r;
	int rc = sb_control_request(&req, NULL, 0, &r, false);
	if (rc < 0)
		return rc;
	if (r.msg.type != SB_PROTO_MSG_MAILBOX_REPLY) {
		sb_control_drop_fds(&r);
		return sb_errno_reply(&r);
	}
	return sb_flows_open(s->udp, fd, r.fds[SB_PROTO_MAILBOX_REPLY_FD_MAILBOX]);
}

/* Reserves `addr` (port 0: an ephemeral one) and asks for new peers' circuits.  0, -EADDRINUSE, or another -errno. */
static int sb_udp_reserve(struct sb_sock *s, int fd, const struct sb_proto_addr *addr)
{
	int rc = sb_reserve(s, fd, addr);
	if (rc < 0)
		return rc;
	rc = sb_udp_listen(s, fd);
	if (rc < 0)
		sb_debug("udp: reservation %llu cannot receive: %d", (unsigned long long)s->reservation, rc);
	return rc;
}

/* The implicit bind of a send or connect on a socket without a port: the wildcard, an ephemeral port. */
static int sb_udp_autobind(struct sb_sock *s, int fd)
{
	if (s->port_held)
		return 0;
	struct sockaddr_storage any;
	struct sb_proto_addr p;
	sb_addr_any(s->domain, &any);
	sb_addr_to_proto((struct sockaddr *)&any, &p);
	return sb_udp_reserve(s, fd, &p);
}

/* ---- setup ---- */

/* A datagram socket's struct, fresh. */
static struct sb_sock *sb_udp_new(int domain, bool nonblock)
{
	struct sb_sock *s = sb_sock_new(domain, SOCK_DGRAM, nonblock);
	struct sb_udp *u = calloc(1, sizeof *u);
	if (s == NULL || u == NULL) {
		free(u);
		if (s != NULL)
			sb_sock_free(s);
		return NULL;
	}
	u->wake_fd = -1;
	u->port_fd = -1;
	pthread_mutex_init(&u->take_lock, NULL);
	s->udp = u;
	s->machine = &sb_machine_dgram;
	s->state = SB_DGRAM_S_FRESH;
	s->opts.rcvbuf = 212992; /* net.core.rmem_default, as getsockopt reports it for UDP */
	s->opts.sndbuf = 212992;
	s->local_len = sb_addr_any(domain, &s->local);
	return s;
}

int sb_udp_socket(int domain, int type)
{
	int fd = sb_placeholder(type);
	if (fd < 0)
		return fd;
	struct sb_sock *s = sb_udp_new(domain, (type & SOCK_NONBLOCK) != 0);
	if (s == NULL) {
		libc_close(fd);
		return -ENOMEM;
	}
	return sb_sock_register(fd, s);
}

struct sb_sock *sb_udp_claimed(int fd, const struct sb_proto_claim_port *m)
{
	int domain = m->address.family == SB_PROTO_AF_INET6 ? AF_INET6 : AF_INET;
	int fl = libc_fcntl(fd, F_GETFL, NULL);
	struct sb_sock *s = sb_udp_new(domain, fl >= 0 && (fl & O_NONBLOCK));
	if (s == NULL)
		return NULL;
	s->local_len = sb_addr_from_proto(domain, &m->address, &s->local);
	s->reservation = m->reservation;
	s->port_held = true;
	s->addr_locked = !sb_addr_is_any(&s->local);
	s->memory[SB_DGRAM_F_BIND_LOCKED] = 1; /* as far as the new image can tell, bind() chose it */
	s->opts.reuseaddr = (m->options & SB_PROTO_BIND_OPTIONS_REUSE_ADDR) != 0;
	s->opts.reuseport = (m->options & SB_PROTO_BIND_OPTIONS_REUSE_PORT) != 0;
	s->opts.v6only = (m->options & SB_PROTO_BIND_OPTIONS_V6ONLY) != 0;
	s->state = SB_DGRAM_S_BOUND;
	s->shared = true;
	if (sb_udp_listen(s, fd) < 0) {
		sb_sock_free(s);
		return NULL;
	}
	return s;
}

int sb_udp_bind(struct sb_sock *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	int rc = sb_addr_check_bind(s->domain, addr, len);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->lock);
	struct sb_call call = { .call = SB_DGRAM_C_BIND, .port = SB_DGRAM_PORT_FREE };
	struct sb_outcome o = sb_udp_decide(s, &call);
	if (o.local == SB_LOCAL_BIND) {
		struct sb_proto_addr want;
		sb_addr_bind_request(addr, &want);
		rc = sb_udp_reserve(s, fd, &want);
		if (rc == -EADDRINUSE) {
			call.port = SB_DGRAM_PORT_TAKEN;
			o = sb_udp_decide(s, &call);
		} else if (rc < 0) {
			goto out;
		}
	}
	rc = -sb_udp_errno(s, &o);
	if (rc == 0 && o.local == SB_LOCAL_BIND) {
		struct sockaddr_storage ss;
		memcpy(&ss, addr, len < sizeof ss ? len : sizeof ss);
		s->addr_locked = !sb_addr_is_any(&ss);
	}
	sb_udp_apply(s, &o);
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sb_udp_connect(struct sb_sock *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	int rc = sb_addr_check_connect(s->domain, addr, len);
	if (rc < 0)
		return rc;
	bool unspec = rc == 1;
	struct sockaddr_storage peer;
	socklen_t peer_len = 0;
	if (!unspec) {
		struct msghdr m = { .msg_name = (void *)addr, .msg_namelen = len };
		rc = sb_udp_dest(s, &m, &peer, &peer_len);
		if (rc < 0)
			return rc;
	}
	pthread_mutex_lock(&s->lock);
	struct sb_call call = { .call = SB_DGRAM_C_CONNECT, .target = unspec ? SB_DGRAM_TARGET_UNSPEC : SB_DGRAM_TARGET_PEER };
	struct sb_outcome o = sb_udp_decide(s, &call);
	rc = -sb_udp_errno(s, &o);
	if (rc == 0 && o.local == SB_LOCAL_CONNECT) {
		rc = sb_udp_autobind(s, fd);
		if (rc < 0)
			goto out;
	}
	pthread_mutex_unlock(&s->lock);
	/* Purge with the old association before the new one takes effect (flows.c: the filter is per peer). */
	if (s->udp->connected_filter)
		sb_flows_connect_filter(s, false);
	pthread_mutex_lock(&s->lock);
	if (rc == 0 && o.local == SB_LOCAL_CONNECT) {
		struct sockaddr_storage local;
		socklen_t local_len;
		sb_udp_source_for(s, &peer, &local, &local_len);
		s->local = local;
		s->local_len = local_len;
		s->peer = peer;
		s->peer_len = peer_len;
	} else if (o.local == SB_LOCAL_DISCONNECT) {
		/* udp_disconnect: the peer goes; an address bind() did not choose goes back to the wildcard, and
		 * an autobound port is released (SOCK_BINDPORT_LOCK decides, in the machine's memory). */
		memset(&s->peer, 0, sizeof s->peer);
		s->peer_len = 0;
		if (!s->addr_locked)
			sb_addr_reset_to_any(&s->local);
		if (o.to == SB_DGRAM_S_FRESH && s->port_held) {
			/* Every holder of the port fd lets go first, so that the operator frees the port at once.
			 * Datagrams already queued stay receivable (udp_disconnect keeps the queue). */
			sb_flows_unbind(s);
			int ph = sb_placeholder(s->nonblock ? SOCK_NONBLOCK : 0);
			if (ph >= 0)
				sb_replace_fd(fd, ph, s->nonblock);
			sb_release(s);
			sb_addr_set_port(&s->local, 0);
		}
	}
	sb_udp_apply(s, &o);
	bool filter = s->state == SB_DGRAM_S_CONNECTED;
	pthread_mutex_unlock(&s->lock);
	if (filter)
		sb_flows_connect_filter(s, true);
	return rc;
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

int sb_udp_shutdown(struct sb_sock *s, int fd, int how)
{
	(void)fd;
	if (how != SHUT_RD && how != SHUT_WR && how != SHUT_RDWR)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	struct sb_call call = { .call = SB_DGRAM_C_SHUTDOWN,
				.how = how == SHUT_RD ? SB_DGRAM_HOW_SHUT_RD
				       : how == SHUT_WR ? SB_DGRAM_HOW_SHUT_WR
							: SB_DGRAM_HOW_SHUT_RDWR };
	struct sb_outcome o = sb_udp_decide(s, &call);
	int rc = -sb_udp_errno(s, &o);
	sb_udp_apply(s, &o); /* the directions are recorded even when it fails (inet_shutdown) */
	pthread_mutex_unlock(&s->lock);
	/* A receiver asleep in recv() must see SHUT_RD: wake the wake fd's sleepers by hand is not possible; they re-check each round. */
	return rc;
}

void sb_udp_end(struct sb_sock *s, bool last)
{
	sb_flows_close(s, !last);
	pthread_mutex_destroy(&s->udp->take_lock);
	free(s->udp);
	s->udp = NULL;
}

/* ---- sending ---- */

/*
 * A circuit to `dest` from the operator: the flow, or NULL with *nobody
 * (nobody is bound there), *busy (the receiver's queue of new peers is full:
 * this datagram is lost, as in a full receive buffer) or *err (the call fails).
 */
static struct sb_flow *sb_udp_open_flow(struct sb_sock *s, const struct sockaddr_storage *dest, socklen_t dest_len,
					bool *nobody, bool *busy, int *err)
{
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_CONNECT };
	req.as.connect.socket_type = SB_PROTO_SOCKET_TYPE_DGRAM;
	req.as.connect.reservation = s->reservation;
	sb_addr_to_proto((const struct sockaddr *)&s->local, &req.as.connect.source);
	sb_addr_to_proto((const struct sockaddr *)dest, &req.as.connect.destination);
	struct sb_control_reply r;
	int rc = sb_control_request(&req, NULL, 0, &r, false);
	if (rc < 0) {
		*err = rc == -ECONNREFUSED ? ENETUNREACH : -rc; /* no operator: no network */
		return NULL;
	}
	if (r.msg.type != SB_PROTO_MSG_CONNECT_GRANTED) {
		int e = -sb_errno_reply(&r);
		sb_control_drop_fds(&r);
		if (e == ECONNREFUSED)
			*nobody = true;
		else if (e == EAGAIN)
			*busy = true;
		else
			*err = e;
		return NULL;
	}
	const struct sb_proto_connect_granted *g = &r.msg.as.connect_granted;
	struct sockaddr_storage local;
	socklen_t local_len = sb_addr_from_proto(s->domain, &g->local, &local);
	pthread_mutex_lock(&s->lock);
	struct sb_flow *f = sb_flows_add(s->udp, r.fds[SB_PROTO_CONNECT_GRANTED_FD_MEMFD],
					 r.fds[SB_PROTO_CONNECT_GRANTED_FD_ENDPOINT], SB_ROLE_CONNECTOR, g->circuit, &local,
					 local_len, dest, dest_len);
	pthread_mutex_unlock(&s->lock);
	if (f == NULL)
		*err = ENOMEM;
	return f;
}

/*
 * Puts one datagram on its way to `dest`: true if a socket is bound there
 * (the datagram went, or was dropped for want of room, as UDP may), false if
 * nobody is (the datagram is lost).  *err: the send fails with it.
 */
static bool sb_udp_transmit(struct sb_sock *s, const struct sockaddr_storage *dest, socklen_t dest_len,
			    const struct iovec *iov, int iovcnt, size_t len, int *err)
{
	for (int attempt = 0; attempt < 2; attempt++) {
		pthread_mutex_lock(&s->lock);
		struct sb_flow *f = sb_flows_find(s->udp, dest, dest_len);
		pthread_mutex_unlock(&s->lock);
		bool nobody = false, busy = false;
		if (f == NULL)
			f = sb_udp_open_flow(s, dest, dest_len, &nobody, &busy, err);
		if (f == NULL)
			return busy; /* busy: someone is there, the datagram is dropped; else nobody, or *err */
		ssize_t n = sb_circuit_send_dgram(&f->c, iov, iovcnt, NULL, 0, SB_NONBLOCK | SB_NOPROBE, NULL);
		if (n >= 0) {
			f->sent += len;
			return true;
		}
		if (n == -EAGAIN) {
			/* The receiver's ring is full: UDP drops it (counted), the send succeeds. */
			sb_circuit_count_drop(&f->c);
			return true;
		}
		/* The receiver closed (EPIPE), vanished (ECONNRESET) or broke the circuit: another socket may hold the port now. */
		sb_debug("udp: circuit %llu to a closed receiver (%zd)", (unsigned long long)f->id, n);
		f->dead = true;
		s->udp->dead_seen = true;
	}
	return false;
}

ssize_t sb_udp_sendmsg(struct sb_sock *s, int fd, const struct msghdr *m, int flags)
{
	size_t len;
	if (m->msg_iovlen > IOV_MAX)
		return -EMSGSIZE;
	int rc = sb_iov_total(m->msg_iov, (int)m->msg_iovlen, &len);
	if (rc < 0)
		return rc;
	struct sockaddr_storage dest;
	socklen_t dest_len = 0;
	int d = sb_udp_dest(s, m, &dest, &dest_len);
	if (d < 0)
		return d;
	pthread_mutex_lock(&s->send_lock);
	pthread_mutex_lock(&s->lock);
	bool to_peer = d == 1;
	struct sb_call call = { .call = to_peer ? SB_DGRAM_C_SEND : SB_DGRAM_C_SENDTO, .flags = flags, .len = len };
	struct sb_outcome o = sb_udp_decide(s, &call);
	ssize_t result = -sb_udp_errno(s, &o);
	if (o.local == SB_LOCAL_AUTOBIND) {
		int b = sb_udp_autobind(s, fd);
		if (b < 0 && result == 0)
			result = b;
	}
	if (to_peer && s->state == SB_DGRAM_S_CONNECTED) {
		dest = s->peer;
		dest_len = s->peer_len;
	}
	pthread_mutex_unlock(&s->lock);
	if (result == 0 && o.returns == SB_RETURNS_SENT) {
		int err = 0;
		bool there = sb_udp_transmit(s, &dest, dest_len, m->msg_iov, (int)m->msg_iovlen, len, &err);
		if (err != 0) {
			result = -err;
		} else {
			result = (ssize_t)len;
			if (!there && to_peer) {
				/* The connected peer's port answers port-unreachable: the machine leaves ECONNREFUSED pending. */
				call.peer_gone = true;
				pthread_mutex_lock(&s->lock);
				o = sb_udp_decide(s, &call);
				pthread_mutex_unlock(&s->lock);
			}
		}
	}
	/* Most sends change nothing (a bound or connected socket's datagram went): no second trip through the lock. */
	if (o.to != SB_STATE_UNCHANGED || o.nset > 0) {
		pthread_mutex_lock(&s->lock);
		sb_udp_apply(s, &o);
		pthread_mutex_unlock(&s->lock);
	}
	pthread_mutex_unlock(&s->send_lock);
	return result;
}

/* ---- receiving ---- */

/* Appends one control message if it fits (else sets MSG_CTRUNC, as the kernel's put_cmsg); false when it did not. */
static bool sb_put_cmsg(struct msghdr *m, size_t cap, size_t *used, int level, int type, const void *data, size_t len,
			int *mflags)
{
	if (*used + CMSG_SPACE(len) > cap) {
		*mflags |= MSG_CTRUNC;
		return false;
	}
	struct cmsghdr *c = (struct cmsghdr *)((char *)m->msg_control + *used);
	c->cmsg_level = level;
	c->cmsg_type = type;
	c->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(c), data, len);
	*used += CMSG_SPACE(len);
	return true;
}

/* Control messages for a delivered datagram (IP_PKTINFO / IPV6_PKTINFO), as far as the buffer allows. */
static void sb_udp_control(const struct sb_sock *s, const struct sb_flow *f, struct msghdr *m, int *mflags)
{
	size_t cap = m->msg_control != NULL ? m->msg_controllen : 0;
	m->msg_controllen = 0;
	const struct sb_udp *u = s->udp;
	if (cap == 0)
		return;
	size_t used = 0;
	bool ok = true;
	/* The datagram's destination: the flow's local address (an IPv4 one on a dual-stack socket is v4-mapped). */
	struct in_pktinfo pi = { .ipi_ifindex = 1 }; /* the loopback interface: circuits stay on this host */
	bool v4 = false;
	if (f->local.ss_family == AF_INET) {
		pi.ipi_spec_dst = ((const struct sockaddr_in *)&f->local)->sin_addr;
		v4 = true;
	} else if (IN6_IS_ADDR_V4MAPPED(&((const struct sockaddr_in6 *)&f->local)->sin6_addr)) {
		memcpy(&pi.ipi_spec_dst, &((const struct sockaddr_in6 *)&f->local)->sin6_addr.s6_addr[12], 4);
		v4 = true;
	}
	pi.ipi_addr = pi.ipi_spec_dst;
	if (u->pktinfo && v4)
		ok = sb_put_cmsg(m, cap, &used, IPPROTO_IP, IP_PKTINFO, &pi, sizeof pi, mflags);
	if (ok && u->recvpktinfo6 && f->local.ss_family == AF_INET6) {
		struct in6_pktinfo pi6 = { .ipi6_addr = ((const struct sockaddr_in6 *)&f->local)->sin6_addr, .ipi6_ifindex = 1 };
		sb_put_cmsg(m, cap, &used, IPPROTO_IPV6, IPV6_PKTINFO, &pi6, sizeof pi6, mflags);
	}
	m->msg_controllen = used;
}

/* Sleeps until something may have changed: 0 (look again), -EINTR, or -ETIMEDOUT. */
static int sb_udp_sleep(struct sb_sock *s, int64_t deadline)
{
	int wake = s->udp->wake_fd;
	if (sb_udp_arm(s)) {
		sb_udp_disarm(s);
		return 0;
	}
	struct timespec ts, *timeout = NULL;
	if (deadline >= 0) {
		int64_t left = deadline - sb_now_ns();
		if (left <= 0) {
			sb_udp_disarm(s);
			return -ETIMEDOUT;
		}
		ts.tv_sec = left / 1000000000;
		ts.tv_nsec = left % 1000000000;
		timeout = &ts;
	}
	long rc;
	if (wake >= 0) {
		struct pollfd p = { .fd = wake, .events = POLLIN };
		rc = sb_sys_ppoll(&p, 1, timeout, NULL);
	} else {
		/* No port yet (fresh): nothing can arrive, only a signal or the deadline ends the wait. */
		rc = sb_sys_ppoll(NULL, 0, timeout, NULL);
	}
	sb_udp_disarm(s);
	sb_udp_ack(s);
	return rc == -EINTR ? -EINTR : 0;
}

/* Spins (no system call) for a short while until a datagram or a new peer shows up; true if one did. */
static bool sb_udp_spin(struct sb_sock *s)
{
	uint32_t budget = sb_spin_initial_ns();
	if (budget == 0)
		return false;
	int64_t until = sb_now_ns() + budget;
	struct sb_dgram_head h;
	do {
		for (int i = 0; i < 64; i++) {
			if (sb_flows_news(s->udp) || sb_flows_pick(s, &h) != NULL)
				return true;
		}
	} while (sb_now_ns() < until);
	return false;
}

ssize_t sb_udp_recvmsg(struct sb_sock *s, int fd, struct msghdr *m, int flags)
{
	(void)fd; /* receiving never changes what the fd is */
	size_t cap;
	if (m->msg_iovlen > IOV_MAX)
		return -EMSGSIZE;
	int rc = sb_iov_total(m->msg_iov, (int)m->msg_iovlen, &cap);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&s->recv_lock);
	int64_t deadline = -2; /* not computed yet */
	bool spun = false;
	ssize_t result;
	for (;;) {
		if (sb_flows_news(s->udp))
			sb_flows_take_incoming(s, false);
		struct sb_dgram_head head;
		struct sb_flow *f = sb_flows_pick(s, &head);
		pthread_mutex_lock(&s->lock);
		struct sb_call call = { .call = SB_DGRAM_C_RECV, .flags = flags, .len = cap, .readable = f != NULL };
		struct sb_outcome o = sb_udp_decide(s, &call);
		int err = sb_udp_errno(s, &o);
		sb_udp_apply(s, &o);
		int64_t timeout = s->opts.rcvtimeo_ns;
		pthread_mutex_unlock(&s->lock);
		if (err != 0) {
			result = -err;
			break;
		}
		if (o.returns == SB_RETURNS_RECEIVED && f != NULL) {
			unsigned cflags = SB_NONBLOCK | SB_NOPROBE;
			if (flags & MSG_PEEK)
				cflags |= SB_PEEK;
			if (flags & MSG_TRUNC)
				cflags |= SB_TRUNC;
			bool truncated = false;
			result = sb_circuit_recv_dgram(&f->c, m->msg_iov, (int)m->msg_iovlen, NULL, NULL, &truncated, cflags, NULL);
			if (result < 0) {
				f->dead = true; /* it broke under us: look again */
				s->udp->dead_seen = true;
				continue;
			}
			if (!(flags & MSG_PEEK))
				sb_flows_delivered(f, &head, head.len);
			int mflags = truncated ? MSG_TRUNC : 0;
			if (m->msg_name != NULL) {
				socklen_t want = m->msg_namelen;
				sb_addr_copy_out(&f->peer, f->peer_len, m->msg_name, &want);
				m->msg_namelen = want;
			} else {
				m->msg_namelen = 0;
			}
			sb_udp_control(s, f, m, &mflags);
			m->msg_flags = mflags;
			break;
		}
		if (o.returns == SB_RETURNS_EOF) {
			m->msg_namelen = 0;
			m->msg_controllen = 0;
			m->msg_flags = 0;
			result = 0;
			break;
		}
		if (!o.blocks) {
			result = -EAGAIN;
			break;
		}
		if (!spun) {
			spun = true;
			if (sb_udp_spin(s))
				continue;
		}
		if (deadline == -2)
			deadline = timeout > 0 ? sb_now_ns() + timeout : -1;
		rc = sb_udp_sleep(s, deadline);
		sb_flows_collect(s);
		if (rc == -ETIMEDOUT) {
			result = -EAGAIN; /* SO_RCVTIMEO */
			break;
		}
		if (rc < 0) {
			result = rc;
			break;
		}
	}
	sb_flows_collect(s); /* flows whose peers left (a DNS server's one-query clients) */
	pthread_mutex_unlock(&s->recv_lock);
	return result;
}

int sb_udp_so_error(struct sb_sock *s, int *value)
{
	pthread_mutex_lock(&s->lock);
	struct sb_call call = { .call = SB_DGRAM_C_SO_ERROR };
	struct sb_outcome o = sb_udp_decide(s, &call);
	int err = sb_udp_errno(s, &o);
	*value = 0;
	if (err == 0 && o.returns == SB_RETURNS_PENDING_ERROR && s->memory[SB_DGRAM_F_ERROR]) {
		struct sb_outcome pending = { .fails = SB_FAILS_PENDING };
		*value = sb_udp_errno(s, &pending);
	}
	if (err == 0)
		sb_udp_apply(s, &o);
	pthread_mutex_unlock(&s->lock);
	return -err;
}

int sb_udp_next_len(struct sb_sock *s)
{
	if (sb_flows_news(s->udp))
		sb_flows_take_incoming(s, false);
	return (int)sb_flows_next_len(s);
}

/* ---- readiness ---- */

unsigned sb_udp_poll(struct sb_sock *s)
{
	if (sb_flows_news(s->udp))
		sb_flows_take_incoming(s, false);
	struct sb_call call = { .call = SB_DGRAM_C_RECV };
	if (pthread_mutex_trylock(&s->recv_lock) == 0) {
		struct sb_dgram_head h;
		call.readable = sb_flows_pick(s, &h) != NULL;
		pthread_mutex_unlock(&s->recv_lock);
	} else {
		/* Another thread is receiving (perhaps asleep): only the shared indices may be looked at. */
		call.readable = sb_flows_any_queued(s);
	}
	struct sb_udp_facts f = { .s = s, .call = &call };
	pthread_mutex_lock(&s->lock);
	unsigned ev = sb_machine_poll(&sb_machine_dgram, s->state, sb_udp_fact, &f);
	pthread_mutex_unlock(&s->lock);
	if (ev & POLLIN)
		ev |= POLLRDNORM;
	if (ev & POLLOUT)
		ev |= POLLWRNORM;
	return ev;
}

uint64_t sb_udp_arrivals(struct sb_sock *s)
{
	return sb_flows_arrivals(s);
}

int sb_udp_wake_fd(const struct sb_sock *s)
{
	return s->udp != NULL ? s->udp->wake_fd : -1;
}

bool sb_udp_arm(struct sb_sock *s)
{
	return sb_flows_arm(s);
}

void sb_udp_disarm(struct sb_sock *s)
{
	sb_flows_disarm(s);
}

void sb_udp_ack(struct sb_sock *s)
{
	sb_flows_ack(s);
}
