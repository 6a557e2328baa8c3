/*
 * Performs one call on the socket under test, through the libc function the
 * step names, and records what happened: return value, errno, whether it
 * slept (a repeating timer interrupts it), SIGPIPE, and received bytes.
 */
#include "executor.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

static volatile sig_atomic_t timer_fired;
static volatile sig_atomic_t sigpipes;

static void on_alarm(int sig)
{
	(void)sig;
	timer_fired = 1;
}

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

void sbv_step_init(void)
{
	/* No SA_RESTART: a sleeping call must come back with EINTR (or its partial result). */
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_handler = on_sigpipe;
	sigaction(SIGPIPE, &sa, NULL);
}

/*
 * A call predicted to block gets a short repeating timer: it must still be
 * asleep when the timer fires.  Any other call gets a long one, so that a
 * call that blocks against the prediction is caught rather than hanging.
 * The timer repeats, so a signal that lands before the call starts cannot
 * leave it sleeping forever.
 */
static void arm(bool expect_block)
{
	long usec = expect_block ? 50000 : 2000000;
	struct itimerval it = { { usec / 1000000, usec % 1000000 }, { usec / 1000000, usec % 1000000 } };
	timer_fired = 0;
	setitimer(ITIMER_REAL, &it, NULL);
}

static void disarm(void)
{
	struct itimerval off;
	memset(&off, 0, sizeof off);
	setitimer(ITIMER_REAL, &off, NULL);
}

static unsigned char sendbuf[70000];
static unsigned char recvbuf[70000];

static long do_send(struct sbv_ctx *c, const struct sbv_step *s)
{
	struct sockaddr_storage ss;
	socklen_t sl = 0;
	bool addressed = s->addr != SBV_ADDR_NONE;
	if (addressed)
		sl = sbv_make_addr(c->domain, s->addr, s->port, &ss);
	size_t len = s->len < sizeof sendbuf ? s->len : sizeof sendbuf;
	struct iovec iov[2] = { { sendbuf, len / 2 }, { sendbuf + len / 2, len - len / 2 } };
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	if (addressed) {
		mh.msg_name = &ss;
		mh.msg_namelen = sl;
	}
	switch (s->api) {
	case SBV_API_SEND:
		return send(c->sut, sendbuf, len, s->flags);
	case SBV_API_SENDTO:
		return sendto(c->sut, sendbuf, len, s->flags, addressed ? (struct sockaddr *)&ss : NULL, sl);
	case SBV_API_SENDMSG:
		return sendmsg(c->sut, &mh, s->flags);
	case SBV_API_WRITE:
		return write(c->sut, sendbuf, len);
	case SBV_API_WRITEV:
		return writev(c->sut, iov, 2);
	default:
		errno = ENOSYS;
		return -1;
	}
}

static long do_recv(struct sbv_ctx *c, const struct sbv_step *s, struct sbv_observed *o)
{
	size_t len = s->len < sizeof recvbuf ? s->len : sizeof recvbuf;
	struct iovec iov[2] = { { recvbuf, len / 2 }, { recvbuf + len / 2, len - len / 2 } };
	struct msghdr mh;
	memset(&mh, 0, sizeof mh);
	mh.msg_iov = iov;
	mh.msg_iovlen = 2;
	mh.msg_name = &o->source;
	mh.msg_namelen = sizeof o->source;
	socklen_t sl = sizeof o->source;
	long n;
	memset(recvbuf, 0, len);
	switch (s->api) {
	case SBV_API_RECV:
		return recv(c->sut, recvbuf, len, s->flags);
	case SBV_API_RECVFROM:
		n = recvfrom(c->sut, recvbuf, len, s->flags, (struct sockaddr *)&o->source, &sl);
		o->have_source = n >= 0 && sl > 0;
		return n;
	case SBV_API_RECVMSG:
		n = recvmsg(c->sut, &mh, s->flags);
		o->have_source = n >= 0 && mh.msg_namelen > 0;
		o->msg_flags = mh.msg_flags;
		return n;
	case SBV_API_READ:
		return read(c->sut, recvbuf, len);
	case SBV_API_READV:
		return readv(c->sut, iov, 2);
	default:
		errno = ENOSYS;
		return -1;
	}
}

/* Checks received bytes: the stream pattern at our read offset, or the datagram's tag. */
static void check_received(struct sbv_ctx *c, const struct sbv_step *s, struct sbv_observed *o)
{
	if (o->ret <= 0)
		return;
	size_t copied = (size_t)o->ret < s->len ? (size_t)o->ret : s->len;
	if (c->type == SOCK_STREAM) {
		/* TCP's MSG_TRUNC discards instead of copying. */
		if (!(s->flags & MSG_TRUNC)) {
			for (size_t i = 0; i < copied; i++) {
				if (recvbuf[i] != sbv_pattern(c->rx_off + i)) {
					o->content_ok = false;
					break;
				}
			}
		}
		if (!(s->flags & MSG_PEEK))
			c->rx_off += (uint64_t)o->ret;
	} else {
		o->tag = recvbuf[0];
		for (size_t i = 1; i < copied; i++) {
			if (recvbuf[i] != recvbuf[0]) {
				o->content_ok = false;
				break;
			}
		}
	}
}

void sbv_step_call(struct sbv_ctx *c, const struct sbv_step *s, struct sbv_observed *o)
{
	memset(o, 0, sizeof *o);
	o->tag = -1;
	o->msg_flags = 0;
	o->content_ok = true;
	int pipes_before = sigpipes;
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	if (s->op == SBV_OP_BIND && s->reuse)
		setsockopt(c->sut, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);

	arm(s->blocks);
	errno = 0;
	switch (s->op) {
	case SBV_OP_SOCKET:
		o->ret = socket(c->domain, c->type | (c->seq->nonblock ? SOCK_NONBLOCK : 0), 0);
		break;
	case SBV_OP_BIND:
		sl = sbv_make_addr(c->domain, s->addr, s->port, &ss);
		o->ret = bind(c->sut, (struct sockaddr *)&ss, sl);
		break;
	case SBV_OP_LISTEN:
		o->ret = listen(c->sut, 8);
		break;
	case SBV_OP_ACCEPT:
		sl = sizeof ss;
		o->ret = s->api == SBV_API_ACCEPT4 ? accept4(c->sut, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | s->flags)
						    : accept(c->sut, (struct sockaddr *)&ss, &sl);
		break;
	case SBV_OP_CONNECT:
		sl = sbv_make_addr(c->domain, s->addr, s->port, &ss);
		o->ret = connect(c->sut, (struct sockaddr *)&ss, sl);
		break;
	case SBV_OP_SHUTDOWN:
		o->ret = shutdown(c->sut, s->how);
		break;
	case SBV_OP_SEND:
		o->ret = do_send(c, s);
		break;
	case SBV_OP_RECV:
		o->ret = do_recv(c, s, o);
		break;
	case SBV_OP_GETSOCKNAME:
		sl = sizeof ss;
		o->ret = getsockname(c->sut, (struct sockaddr *)&ss, &sl);
		break;
	case SBV_OP_GETPEERNAME:
		sl = sizeof ss;
		o->ret = getpeername(c->sut, (struct sockaddr *)&ss, &sl);
		break;
	case SBV_OP_SO_ERROR:
		sl = sizeof o->soerror;
		o->ret = getsockopt(c->sut, SOL_SOCKET, SO_ERROR, &o->soerror, &sl);
		break;
	case SBV_OP_CLOSE:
		o->ret = close(c->sut);
		break;
	default:
		o->ret = -1;
		errno = ENOSYS;
		break;
	}
	o->err = o->ret < 0 ? errno : 0;
	disarm();
	o->interrupted = timer_fired;
	o->sigpipes = sigpipes - pipes_before;

	/* Book-keeping the harness needs to keep following the socket. */
	switch (s->op) {
	case SBV_OP_SOCKET:
		if (o->ret >= 0) {
			c->sut = (int)o->ret;
			c->sut_open = true;
		}
		break;
	case SBV_OP_ACCEPT:
		if (o->ret >= 0 && s->follow) {
			/* Go on with the accepted socket; the listener stays open, out of the way. */
			c->old_listener = sbv_harness_fd(c->sut);
			c->sut = (int)o->ret;
		} else if (o->ret >= 0) {
			close((int)o->ret);
		}
		if (o->ret >= 0)
			sbv_harness_accepted(c, s->follow);
		break;
	case SBV_OP_BIND:
		/* Two datagram sockets sharing a port would split the traffic: let go of ours. */
		if (o->ret == 0 && s->reuse && c->type == SOCK_DGRAM && c->shared >= 0) {
			close(c->shared);
			c->shared = -1;
		}
		break;
	case SBV_OP_RECV:
		check_received(c, s, o);
		break;
	case SBV_OP_CLOSE:
		if (o->ret == 0)
			c->sut_open = false;
		break;
	default:
		break;
	}
}
