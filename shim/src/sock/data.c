/*
 * Moving bytes: the send and receive families over a socket's circuit.
 *
 * Each call asks the state machine first (after catching up with what the
 * peer did); the outcome says whether the call fails (and with what, and
 * whether SIGPIPE goes with it), returns EOF, or moves data; then the circuit
 * does the moving.  When the circuit reports that the peer's side changed
 * under us (a reset, a hang-up), the machine is asked again: it knows what
 * Linux answers in the new state.
 */
#include "data.h"

#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "circuit/internal.h"
#include "setup.h"

/* Rounds of "ask the machine, try the circuit" before giving up; each round follows a change of the peer's state. */
#define SB_DATA_ROUNDS 8

static size_t sb_iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

static struct sb_wait sb_timeout(int64_t ns)
{
	return (struct sb_wait){ .timeout_ns = ns > 0 ? ns : -1, .sigmask = NULL };
}

/* The machine's outcome for the call, with the state updated; *err is its errno (0 if it does not fail). */
static struct sb_outcome sb_data_decide(struct sb_sock *s, const struct sb_call *call, int *err,
					struct sb_circuit_view *view)
{
	pthread_mutex_lock(&s->lock);
	if (s->shared && s->circuit != NULL)
		sb_circuit_adopt(s->circuit, call->call == SB_STREAM_C_SEND, call->call == SB_STREAM_C_RECV); /* a process we forked from (or into) may have used it meanwhile */
	sb_sock_sync(s);
	const struct sb_case *k = sb_sock_decide(s, call);
	if (sb_sock_connecting(s) && (k->then.blocks || sb_sock_errno(s, &k->then) == EAGAIN)) {
		/* A connect under way, and the call would wait for it: a blocking call waits, a non-blocking one looks. */
		bool nonblock = s->nonblock || (call->flags & MSG_DONTWAIT);
		if (sb_sock_settle_connect(s, !nonblock) == -EINTR) {
			pthread_mutex_unlock(&s->lock);
			*err = EINTR;
			memset(view, 0, sizeof *view);
			return (struct sb_outcome){ 0 };
		}
		k = sb_sock_decide(s, call);
	}
	struct sb_outcome o = k->then;
	*err = sb_sock_errno(s, &o);
	if (s->circuit != NULL)
		sb_circuit_view(s->circuit, view);
	else
		memset(view, 0, sizeof *view);
	sb_sock_apply(s, &o);
	pthread_mutex_unlock(&s->lock);
	return o;
}

ssize_t sb_sock_sendv(struct sb_sock *s, const struct iovec *iov, int iovcnt, int flags)
{
	if (flags & MSG_OOB)
		return -EOPNOTSUPP; /* urgent data is not carried (docs/compatibility.md) */
	struct sb_call call = { .call = SB_STREAM_C_SEND, .flags = flags, .len = sb_iov_total(iov, iovcnt) };
	pthread_mutex_lock(&s->send_lock);
	ssize_t rc = -EPIPE;
	for (int round = 0; round < SB_DATA_ROUNDS; round++) {
		int err;
		struct sb_circuit_view view;
		struct sb_outcome o = sb_data_decide(s, &call, &err, &view);
		if (err) {
			if (o.sigpipe && !(flags & MSG_NOSIGNAL))
				sb_sock_sigpipe();
			rc = -err;
			break;
		}
		if (o.returns != SB_RETURNS_SENT && !o.blocks) {
			rc = -EIO;
			break;
		}
		if (s->circuit == NULL) {
			rc = -EAGAIN; /* connecting: nothing to write into yet */
			break;
		}
		if (o.returns == SB_RETURNS_SENT && (view.peer_gone || view.peer_closed)) {
			/* Linux takes the bytes, and the closed peer answers with a RST (the machine moved on already). */
			rc = (ssize_t)call.len;
			break;
		}
		bool nonblock = s->nonblock || (flags & MSG_DONTWAIT);
		struct sb_wait w = sb_timeout(s->opts.sndtimeo_ns);
		ssize_t n = sb_circuit_send(s->circuit, iov, iovcnt, nonblock ? SB_NONBLOCK : 0, &w);
		if (n >= 0) {
			s->bytes_sent += (uint64_t)n;
			rc = n;
			break;
		}
		if (n == -EAGAIN || n == -ETIMEDOUT || n == -EINTR) {
			rc = n == -ETIMEDOUT ? -EAGAIN : n;
			break;
		}
		/* EPIPE, ECONNRESET, EPROTO: the peer's state changed; the machine says what that means. */
	}
	pthread_mutex_unlock(&s->send_lock);
	return rc;
}

/* MSG_TRUNC on TCP: the bytes are discarded, not copied (tcp_recvmsg). */
static ssize_t sb_discard(struct sb_circuit *c, size_t len, unsigned cflags, const struct sb_wait *w)
{
	static unsigned char sink[65536];
	struct iovec v = { sink, len < sizeof sink ? len : sizeof sink };
	return sb_circuit_recv(c, &v, 1, cflags, w);
}

ssize_t sb_sock_recvv(struct sb_sock *s, const struct iovec *iov, int iovcnt, int flags, int *msg_flags)
{
	if (msg_flags != NULL)
		*msg_flags = 0;
	if (flags & MSG_OOB)
		return -EINVAL; /* no urgent data, as tcp_recvmsg says when there is none */
	struct sb_call call = { .call = SB_STREAM_C_RECV, .flags = flags, .len = sb_iov_total(iov, iovcnt) };
	pthread_mutex_lock(&s->recv_lock);
	ssize_t rc = -EIO;
	for (int round = 0; round < SB_DATA_ROUNDS; round++) {
		int err;
		struct sb_circuit_view view;
		struct sb_outcome o = sb_data_decide(s, &call, &err, &view);
		if (err) {
			rc = -err;
			break;
		}
		if (o.returns == SB_RETURNS_EOF) {
			rc = 0;
			break;
		}
		if (o.returns != SB_RETURNS_RECEIVED && !o.blocks) {
			rc = -EIO;
			break;
		}
		if (s->circuit == NULL) {
			rc = -EAGAIN;
			break;
		}
		bool nonblock = s->nonblock || (flags & MSG_DONTWAIT);
		unsigned cflags = (flags & MSG_PEEK ? SB_PEEK : 0) | (flags & MSG_WAITALL ? SB_WAITALL : 0);
		/* Data is there: take it without waiting; only a blocking outcome waits (for data, or for the rest with MSG_WAITALL). */
		if (!o.blocks || nonblock)
			cflags |= SB_NONBLOCK;
		if (o.returns != SB_RETURNS_RECEIVED && !o.blocks)
			cflags &= ~(unsigned)SB_WAITALL; /* MSG_WAITALL waits for all of it, from an empty queue too */
		struct sb_wait w = sb_timeout(s->opts.rcvtimeo_ns);
		ssize_t n = (flags & MSG_TRUNC) ? sb_discard(s->circuit, call.len, cflags, &w)
					       : sb_circuit_recv(s->circuit, iov, iovcnt, cflags, &w);
		if (n > 0) {
			if (!(flags & MSG_PEEK))
				s->bytes_received += (uint64_t)n;
			rc = n;
			break;
		}
		if (n == -EAGAIN || n == -ETIMEDOUT || n == -EINTR) {
			rc = n == -ETIMEDOUT ? -EAGAIN : n;
			break;
		}
		if (n == 0 && call.len == 0) {
			rc = 0;
			break;
		}
		/* 0 (the peer's FIN or hang-up), ECONNRESET, EPROTO: the machine says what Linux returns now. */
	}
	pthread_mutex_unlock(&s->recv_lock);
	return rc;
}
