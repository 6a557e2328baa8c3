/*
 * connect(): the machine decides, the operator answers where the connection
 * leads (a listener, a full queue, nobody, the policy), and a grant becomes
 * the socket's circuit.  Also what happens after: an attempt that waits for
 * room in a full queue (sb_sock_settle_connect) and the disconnect that
 * connect(AF_UNSPEC) and shutdown of an attempt perform.
 *
 * Functions return >= 0 or -errno.
 */
#include "setup.h"
#include "setup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "addr.h"
#include "circuit/internal.h"
#include "control.h"
#include "debug.h"
#include "sb_libc.h"

/* The operator's answer to connect, as the machine's `target`; other answers are returned as they are. */
static int sb_ask_connect(struct sb_sock *s, const struct sockaddr *addr, bool interruptible, uint8_t *target,
			  struct sb_control_reply *r)
{
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_CONNECT };
	req.as.connect.socket_type = SB_PROTO_SOCKET_TYPE_STREAM;
	req.as.connect.reservation = s->port_held ? s->reservation : 0;
	if (s->port_held && s->reservation != 0)
		sb_addr_to_proto((struct sockaddr *)&s->local, &req.as.connect.source);
	sb_addr_connect_target(s->domain, addr, &req.as.connect.destination);
	req.as.connect.options = s->nonblock ? SB_PROTO_CONNECT_OPTIONS_NONBLOCKING : 0;
	int rc = sb_control_request(&req, NULL, 0, r, interruptible);
	if (rc == -EINTR) {
		*target = SB_STREAM_TARGET_FULL; /* the operator was holding us: the listener's queue is full */
		return 0;
	}
	if (rc < 0)
		return rc == -ECONNREFUSED ? (*target = SB_STREAM_TARGET_NOBODY, 0) : rc;
	if (r->msg.type == SB_PROTO_MSG_CONNECT_GRANTED) {
		*target = SB_STREAM_TARGET_LISTENER;
		return 0;
	}
	int e = -sb_errno_reply(r);
	sb_control_drop_fds(r);
	switch (e) {
	case ECONNREFUSED:
		*target = SB_STREAM_TARGET_NOBODY;
		return 0;
	case EAGAIN:
		*target = SB_STREAM_TARGET_FULL;
		return 0;
	case ENETUNREACH:
		*target = SB_STREAM_TARGET_UNREACHABLE;
		return 0;
	default:
		return -e; /* EPERM (policy), ETIMEDOUT, …: the call fails with it */
	}
}

/* Takes the granted circuit: maps it and puts its endpoint in place of fd. */
static int sb_take_circuit(struct sb_sock *s, int fd, struct sb_control_reply *r)
{
	const struct sb_proto_connect_granted *g = &r->msg.as.connect_granted;
	int memfd = r->fds[SB_PROTO_CONNECT_GRANTED_FD_MEMFD], endpoint = r->fds[SB_PROTO_CONNECT_GRANTED_FD_ENDPOINT];
	struct sb_circuit *c = calloc(1, sizeof *c);
	int rc = c == NULL ? -ENOMEM : sb_circuit_attach(c, memfd, fd, SB_ROLE_CONNECTOR);
	libc_close(memfd);
	if (rc < 0) {
		libc_close(endpoint);
		free(c);
		return rc;
	}
	/* Keep the reservation's port fd out of sight while connected: it holds our port. */
	if (s->port_held && s->reservation != 0)
		s->port_fd = sb_hide_fd(fd);
	rc = sb_replace_fd(fd, endpoint, s->nonblock);
	if (rc < 0) {
		sb_circuit_detach(c);
		free(c);
		return rc;
	}
	s->circuit = c;
	s->circuit_id = g->circuit;
	s->local_len = sb_addr_from_proto(s->domain, &g->local, &s->local);
	s->peer_len = sb_addr_from_proto(s->domain, &g->peer, &s->peer);
	s->port_held = true;
	s->seen_peer_state = 0;
	s->seen_peer_gone = false;
	s->bytes_sent = s->bytes_received = s->seen_arrived = 0;
	sb_circuit_fdtab_register(fd, c);
	return 0;
}

/*
 * Ends the connection or the listening, as tcp_disconnect does: the circuit is
 * reset (the peer sees ECONNRESET) and dropped, the fd becomes the port fd
 * again if bind() locked the port, else a fresh placeholder (the port is
 * released but, as on Linux, getsockname still shows it).
 */
void sb_disconnect(struct sb_sock *s, int fd, bool reset_peer)
{
	bool had_circuit = s->circuit != NULL;
	if (had_circuit) {
		if (reset_peer) {
			sb_debug("circuit %llu: disconnected: reset", (unsigned long long)s->circuit_id);
			sb_circuit_reset(s->circuit);
		}
		sb_circuit_fdtab_unregister(fd);
		sb_circuit_detach(s->circuit);
		free(s->circuit);
		s->circuit = NULL;
	}
	if (s->state == SB_STREAM_S_LISTENING && s->reservation != 0) {
		struct sb_proto_msg req = { .type = SB_PROTO_MSG_UNLISTEN };
		req.as.unlisten.reservation = s->reservation;
		struct sb_control_reply r;
		if (sb_control_request(&req, NULL, 0, &r, false) == 0)
			sb_control_drop_fds(&r);
	}
	/* The fd was the endpoint (connected), the port fd (bound, listening) or a placeholder. */
	bool keep_port = s->memory[SB_STREAM_F_BIND_LOCKED] != 0 && s->reservation != 0;
	if (had_circuit) {
		int newfd = -1;
		if (keep_port && s->port_fd >= 0) {
			newfd = s->port_fd;
			s->port_fd = -1;
		} else {
			newfd = sb_placeholder(0);
		}
		if (newfd >= 0)
			sb_replace_fd(fd, newfd, s->nonblock);
	} else if (!keep_port && s->reservation != 0) {
		int newfd = sb_placeholder(0);
		if (newfd >= 0)
			sb_replace_fd(fd, newfd, s->nonblock);
	}
	if (!keep_port) {
		if (s->port_fd >= 0) {
			libc_close(s->port_fd);
			s->port_fd = -1;
		}
		sb_release(s);
		s->port_held = false; /* released, though getsockname keeps showing it (Linux) */
	}
	s->peer_len = 0;
	if (!s->addr_locked)
		sb_addr_reset_to_any(&s->local);
}

/* A plausible ephemeral port for a failed attempt to show (Linux shows the one it had picked and released). */
unsigned sb_stale_port(void)
{
	unsigned r = 0;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
		r = (unsigned)getpid() * 2654435761u;
	return SB_EPHEMERAL_LOW + r % (SB_EPHEMERAL_HIGH - SB_EPHEMERAL_LOW + 1);
}

static bool sb_proto_is_v4_mapped(const struct sb_proto_addr *a)
{
	static const uint8_t prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	return a->family == SB_PROTO_AF_INET6 && memcmp(a->addr, prefix, sizeof prefix) == 0;
}

/* A socket bound to ::1 has no route to an IPv4 address (ip6_route_output fails: ENETUNREACH). */
static bool sb_unreachable_from(const struct sb_sock *s, const struct sockaddr *addr)
{
	if (s->domain != AF_INET6 || !s->addr_locked || addr->sa_family != AF_INET6)
		return false;
	struct sb_proto_addr dest, here;
	sb_addr_to_proto(addr, &dest);
	sb_addr_to_proto((const struct sockaddr *)&s->local, &here);
	static const uint8_t loop6[16] = { [15] = 1 };
	return sb_proto_is_v4_mapped(&dest) && memcmp(here.addr, loop6, 16) == 0;
}

int sb_sock_settle_connect(struct sb_sock *s, bool wait)
{
	if (s->state != SB_STREAM_S_CONNECTING || s->circuit != NULL || s->pending_fd < 0)
		return 0;
	if (sb_sock_get(s->pending_fd) != s)
		return -EAGAIN; /* the fd it was called on is gone; a dup still waits (docs/compatibility.md) */
	bool nonblock = s->nonblock;
	s->nonblock = !wait;
	uint8_t target;
	struct sb_control_reply r;
	int rc = sb_ask_connect(s, (const struct sockaddr *)&s->pending_dest, wait, &target, &r);
	s->nonblock = nonblock;
	if (rc < 0)
		return rc;
	switch (target) {
	case SB_STREAM_TARGET_LISTENER:
		rc = sb_take_circuit(s, s->pending_fd, &r);
		if (rc < 0)
			return rc;
		/*
		 * The kernel's handshake finishing in the background: TCP is
		 * established, the socket still SS_CONNECTING until a connect()
		 * reports it (the spec's `unconfirmed`).  No call of the spec
		 * stands for this event, so the runtime takes the step itself.
		 */
		s->state = SB_STREAM_S_CONNECTED;
		s->memory[SB_STREAM_F_UNCONFIRMED] = 1;
		s->pending_fd = -1;
		return 0;
	case SB_STREAM_TARGET_FULL:
		return wait ? -EINTR : -EAGAIN;
	default:
		/* The listener went away: refused, as a RST to the SYN (the error waits for SO_ERROR or a call). */
		s->state = SB_STREAM_S_FAILED;
		s->memory[SB_STREAM_F_ERROR] = SB_STREAM_ERROR_ECONNREFUSED;
		s->pending_fd = -1;
		if (!s->port_held)
			sb_addr_set_port(&s->local, sb_stale_port());
		return 0;
	}
}

int sb_sock_connect(struct sb_sock *s, int fd, const struct sockaddr *addr, socklen_t len)
{
	int check = sb_addr_check_connect(s->domain, addr, len);
	if (check < 0)
		return check;
	pthread_mutex_lock(&s->lock);
	sb_sock_sync(s);
	int rc = 0;
	if (check == 0 && s->state == SB_STREAM_S_CONNECTING) {
		/* An attempt is under way: a blocking connect waits for it (whatever the address), a non-blocking one looks. */
		rc = sb_sock_settle_connect(s, !s->nonblock);
		if (rc == -EINTR || (rc < 0 && rc != -EAGAIN))
			goto out;
		rc = 0;
	}
	struct sb_call call = { .call = SB_STREAM_C_CONNECT };
	call.target = check == 1 ? SB_STREAM_TARGET_UNSPEC : SB_STREAM_TARGET_LISTENER;
	const struct sb_case *k = sb_sock_decide(s, &call);
	struct sb_control_reply r;
	bool granted = false;
	if (check == 0 && k->then.local == SB_LOCAL_CONNECT) {
		if (sb_unreachable_from(s, addr)) {
			call.target = SB_STREAM_TARGET_UNREACHABLE;
		} else {
			/* A new attempt: where it leads is the operator's answer. */
			rc = sb_ask_connect(s, addr, !s->nonblock, &call.target, &r);
			if (rc < 0)
				goto out;
			granted = call.target == SB_STREAM_TARGET_LISTENER;
		}
		k = sb_sock_decide(s, &call);
	}
	struct sb_outcome o = k->then;
	rc = -sb_sock_errno(s, &o);
	switch (o.local) {
	case SB_LOCAL_CONNECT:
		if (granted) {
			int t = sb_take_circuit(s, fd, &r);
			if (t < 0) {
				rc = t;
				goto out;
			}
		} else {
			/* An attempt under way (or refused after it began): Linux already chose the local end. */
			if (!s->addr_locked) {
				struct sb_proto_addr dest, here;
				sb_addr_connect_target(s->domain, addr, &dest);
				memset(&here, 0, sizeof here);
				here.family = dest.family;
				if (dest.family == SB_PROTO_AF_INET || sb_proto_is_v4_mapped(&dest)) {
					here.family = SB_PROTO_AF_INET;
					here.addr[0] = 127;
					here.addr[3] = 1;
				} else {
					here.addr[15] = 1;
				}
				unsigned port = sb_addr_port(&s->local);
				s->local_len = sb_addr_from_proto(s->domain, &here, &s->local);
				sb_addr_set_port(&s->local, port);
			}
			if (!s->port_held && sb_addr_port(&s->local) == 0)
				sb_addr_set_port(&s->local, sb_stale_port());
		}
		break;
	case SB_LOCAL_REFUSED:
		if (!s->port_held)
			sb_addr_set_port(&s->local, sb_stale_port());
		if (!s->addr_locked)
			sb_addr_reset_to_any(&s->local);
		if (s->memory[SB_STREAM_F_BIND_LOCKED] == 0)
			s->port_held = false;
		break;
	case SB_LOCAL_DISCONNECT:
		sb_disconnect(s, fd, o.to != SB_STATE_UNCHANGED && s->circuit != NULL && s->state != SB_STREAM_S_RESET &&
					     s->state != SB_STREAM_S_FINISHED);
		break;
	default:
		if (granted)
			sb_control_drop_fds(&r);
		break;
	}
	sb_sock_apply(s, &o);
	if (o.local == SB_LOCAL_CONNECT && s->state == SB_STREAM_S_CONNECTING && s->circuit == NULL) {
		/* The listener's queue was full: the attempt goes on (sb_sock_settle_connect). */
		memcpy(&s->pending_dest, addr, len < sizeof s->pending_dest ? len : sizeof s->pending_dest);
		s->pending_fd = fd;
	}
	if (o.blocks) {
		/* Only the full-backlog case blocks, and the operator already waited for us until a signal: EINTR. */
		rc = -EINTR;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

