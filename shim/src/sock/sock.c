/*
 * Sockets and the state machine: the fd table, the facts the machine's rules
 * ask about, and keeping the state in step with what the peer did.
 */
#include "sock.h"

#include "debug.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <stdint.h>

#include "circuit/fdtab.h"
#include "circuit/internal.h"
#include "sb_libc.h"
#include "udp/udp.h"

/* ---- the fd table: lock-free lookups, grown under a lock, never freed (readers may hold the old array) ---- */

static _Atomic(struct sb_sock *_Atomic *) sb_socks;
static _Atomic size_t sb_socks_len;
static pthread_mutex_t sb_socks_grow = PTHREAD_MUTEX_INITIALIZER;

struct sb_sock *sb_sock_get(int fd)
{
	if (fd < 0)
		return NULL;
	size_t len = atomic_load_explicit(&sb_socks_len, memory_order_acquire);
	struct sb_sock *_Atomic *t = atomic_load_explicit(&sb_socks, memory_order_acquire);
	if ((size_t)fd >= len || t == NULL)
		return NULL;
	return atomic_load_explicit(&t[fd], memory_order_acquire);
}

static int sb_socks_reserve(size_t need)
{
	pthread_mutex_lock(&sb_socks_grow);
	size_t len = atomic_load_explicit(&sb_socks_len, memory_order_relaxed);
	int rc = 0;
	if (need > len) {
		size_t n = len ? len : 1024;
		while (n < need)
			n *= 2;
		struct sb_sock *_Atomic *old = atomic_load_explicit(&sb_socks, memory_order_relaxed);
		struct sb_sock *_Atomic *t = calloc(n, sizeof *t);
		if (t == NULL) {
			rc = -ENOMEM;
		} else {
			for (size_t i = 0; i < len; i++)
				atomic_store_explicit(&t[i], atomic_load_explicit(&old[i], memory_order_relaxed),
						      memory_order_relaxed);
			atomic_store_explicit(&sb_socks, t, memory_order_release);
			atomic_store_explicit(&sb_socks_len, n, memory_order_release);
			/* `old` is not freed: a concurrent reader may still be looking at it. */
		}
	}
	pthread_mutex_unlock(&sb_socks_grow);
	return rc;
}

int sb_sock_put(int fd, struct sb_sock *s)
{
	if (fd < 0)
		return -EBADF;
	int rc = sb_socks_reserve((size_t)fd + 1);
	if (rc < 0)
		return rc;
	pthread_mutex_lock(&sb_socks_grow);
	struct sb_sock *_Atomic *t = atomic_load_explicit(&sb_socks, memory_order_relaxed);
	atomic_store_explicit(&t[fd], s, memory_order_release);
	s->refs++;
	pthread_mutex_unlock(&sb_socks_grow);
	return 0;
}

struct sb_sock *sb_sock_take(int fd)
{
	if (fd < 0)
		return NULL;
	pthread_mutex_lock(&sb_socks_grow);
	struct sb_sock *s = NULL;
	if ((size_t)fd < atomic_load_explicit(&sb_socks_len, memory_order_relaxed)) {
		struct sb_sock *_Atomic *t = atomic_load_explicit(&sb_socks, memory_order_relaxed);
		s = atomic_exchange_explicit(&t[fd], NULL, memory_order_acq_rel);
		if (s != NULL)
			s->refs--;
	}
	pthread_mutex_unlock(&sb_socks_grow);
	return s;
}

struct sb_sock *sb_sock_new(int domain, int type, bool nonblock)
{
	struct sb_sock *s = calloc(1, sizeof *s);
	if (s == NULL)
		return NULL;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->send_lock, NULL);
	pthread_mutex_init(&s->recv_lock, NULL);
	s->domain = domain;
	s->type = type;
	s->machine = &sb_machine_stream;
	s->state = SB_STREAM_S_FRESH;
	s->nonblock = nonblock;
	s->port_fd = -1;
	s->pending_fd = -1;
	/* Linux's defaults, as getsockopt reports them. */
	s->opts.rcvbuf = 131072;
	s->opts.sndbuf = 16384;
	s->opts.rcvlowat = 1;
	s->opts.maxseg = 536;
	s->opts.keepidle = 7200;
	s->opts.keepintvl = 75;
	s->opts.keepcnt = 9;
	return s;
}

void sb_sock_free(struct sb_sock *s)
{
	if (s->udp != NULL)
		sb_udp_end(s, !s->shared); /* not ended yet: a socket that failed half-way */
	if (s->circuit != NULL) {
		sb_circuit_detach(s->circuit);
		free(s->circuit);
	}
	if (s->port_fd >= 0)
		libc_close(s->port_fd);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->send_lock);
	pthread_mutex_destroy(&s->recv_lock);
	free(s);
}

/* ---- facts ---- */

struct sb_facts {
	struct sb_sock *s;
	const struct sb_call *call;
	bool have_view;
	struct sb_circuit_view view;
};

static const struct sb_circuit_view *sb_facts_view(struct sb_facts *f)
{
	if (!f->have_view) {
		memset(&f->view, 0, sizeof f->view);
		if (f->s->circuit != NULL)
			sb_circuit_view(f->s->circuit, &f->view);
		f->have_view = true;
	}
	return &f->view;
}

static unsigned sb_fact(void *ctx, unsigned fact)
{
	struct sb_facts *f = ctx;
	struct sb_sock *s = f->s;
	const struct sb_call *c = f->call;
	int flags = c != NULL ? c->flags : 0;
	switch (fact) {
	case SB_STREAM_F_NONBLOCKING:
		return s->nonblock || (flags & MSG_DONTWAIT);
	case SB_STREAM_F_READABLE: {
		uint64_t n = sb_facts_view(f)->readable;
		size_t want = c != NULL && c->len > 0 ? c->len : 1;
		return n == 0 ? SB_STREAM_READABLE_NONE : n < want ? SB_STREAM_READABLE_SOME : SB_STREAM_READABLE_ENOUGH;
	}
	case SB_STREAM_F_WRITABLE:
		return s->circuit == NULL || sb_facts_view(f)->writable > 0;
	case SB_STREAM_F_PENDING:
		return c != NULL && c->pending;
	case SB_STREAM_F_TARGET:
		return c != NULL ? c->target : SB_STREAM_TARGET_LISTENER;
	case SB_STREAM_F_PORT:
		return c != NULL ? c->port : SB_STREAM_PORT_FREE;
	case SB_STREAM_F_PORT_TIME_WAIT:
		return 0; /* circuits have no TIME_WAIT (docs/compatibility.md) */
	case SB_STREAM_F_HOW:
		return c != NULL ? c->how : SB_STREAM_HOW_SHUT_RDWR;
	case SB_STREAM_F_RECV_MODE:
		return (flags & MSG_PEEK)      ? SB_STREAM_RECV_MODE_PEEK
		       : (flags & MSG_WAITALL) ? SB_STREAM_RECV_MODE_WAITALL
		       : (flags & MSG_TRUNC)   ? SB_STREAM_RECV_MODE_TRUNC
					       : SB_STREAM_RECV_MODE_PLAIN;
	case SB_STREAM_F_NOSIGNAL:
		return (flags & MSG_NOSIGNAL) != 0;
	case SB_STREAM_F_PEER_UNREAD:
		return sb_facts_view(f)->unread_by_peer > 0;
	case SB_STREAM_F_PEER_GONE: {
		const struct sb_circuit_view *v = sb_facts_view(f);
		return v->peer_gone || v->peer_closed;
	}
	default:
		return fact < SB_STREAM_NFACTS ? s->memory[fact] : 0;
	}
}

const struct sb_case *sb_sock_decide(struct sb_sock *s, const struct sb_call *call)
{
	struct sb_facts f = { .s = s, .call = call };
	return sb_machine_decide(s->machine, s->state, call->call, sb_fact, &f);
}

void sb_sock_apply(struct sb_sock *s, const struct sb_outcome *o)
{
	if (o->to != SB_STATE_UNCHANGED)
		s->state = (uint8_t)o->to;
	for (unsigned i = 0; i < o->nset; i++)
		if (o->set[i].fact < SB_STREAM_NFACTS)
			s->memory[o->set[i].fact] = o->set[i].value;
}

int sb_sock_errno(struct sb_sock *s, const struct sb_outcome *o)
{
	if (o->fails == SB_FAILS_PENDING) {
		switch (s->memory[SB_STREAM_F_ERROR]) {
		case SB_STREAM_ERROR_ECONNREFUSED:
			return ECONNREFUSED;
		case SB_STREAM_ERROR_ECONNRESET:
			return ECONNRESET;
		case SB_STREAM_ERROR_EPIPE:
			return EPIPE;
		default:
			return EIO; /* the spec never fails with a pending error that is not there */
		}
	}
	return o->fails > 0 ? o->fails : 0;
}

/* Applies one peer event if the spec says it can happen in this state. */
static void sb_sock_event(struct sb_sock *s, unsigned event, struct sb_facts *f)
{
	struct sb_call call = { .call = event };
	f->call = &call;
	const struct sb_case *k = sb_machine_decide(s->machine, s->state, event, sb_fact, f);
	f->call = NULL;
	if (k != NULL && !k->then.impossible)
		sb_sock_apply(s, &k->then);
}

void sb_sock_sync(struct sb_sock *s)
{
	if (s->circuit == NULL)
		return;
	struct sb_facts f = { .s = s };
	const struct sb_circuit_view *v = sb_facts_view(&f);
	/*
	 * In the order the peer did them: its bytes, then its FIN, then a reset
	 * (state bits are only ever added, and nothing follows a reset).  The
	 * order matters: a FIN seen before the reset makes reads end in EOF
	 * rather than ECONNRESET (SOCK_DONE), as a client that re-sends on a
	 * kept-alive connection the server just closed expects.
	 */
	uint64_t arrived = s->bytes_received + v->readable;
	if (arrived > s->seen_arrived) {
		s->seen_arrived = arrived;
		uint8_t before = s->state;
		sb_sock_event(s, SB_STREAM_C_PEER_SEND, &f);
		/* Data after shutdown(SHUT_RDWR): Linux answers with a RST (the machine moved to reset). */
		if (s->state == SB_STREAM_S_RESET && before != SB_STREAM_S_RESET) {
			sb_debug("circuit %llu: data arrived after shutdown(SHUT_RDWR): reset", (unsigned long long)s->circuit_id);
			sb_circuit_reset(s->circuit);
			return;
		}
	}
	if (v->peer_fin && !(s->seen_peer_state & SB_PROD_FIN)) {
		s->seen_peer_state |= SB_PROD_FIN;
		sb_sock_event(s, SB_STREAM_C_PEER_SHUT_WR, &f);
	}
	if ((v->peer_reset || v->broken) && !(s->seen_peer_state & SB_PROD_RESET)) {
		s->seen_peer_state |= SB_PROD_RESET | SB_PROD_FIN;
		s->seen_peer_gone = true;
		sb_debug("circuit %llu: the peer reset it%s", (unsigned long long)s->circuit_id, v->broken ? " (broken)" : "");
		sb_sock_event(s, SB_STREAM_C_PEER_RESET, &f);
		return;
	}
	if ((v->peer_gone || v->peer_closed) && !s->seen_peer_gone) {
		s->seen_peer_gone = true;
		sb_sock_event(s, SB_STREAM_C_PEER_CLOSE, &f);
	}
}

unsigned sb_sock_poll(struct sb_sock *s)
{
	struct sb_facts f = { .s = s };
	unsigned ev = sb_machine_poll(s->machine, s->state, sb_fact, &f);
	if (ev & POLLIN)
		ev |= POLLRDNORM;
	if (ev & POLLOUT)
		ev |= POLLWRNORM;
	return ev;
}

void sb_sock_sigpipe(void)
{
	/* The kernel sends SIGPIPE to the writing thread (send_sig on current). */
	syscall(SYS_tgkill, getpid(), (pid_t)syscall(SYS_gettid), SIGPIPE);
}

int sb_hide_fd(int fd)
{
	/* Well above what programs number their own fds, but under the soft limit. */
	struct rlimit rl;
	long base = 1000;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (long)rl.rlim_cur / 2 > base)
		base = (long)rl.rlim_cur / 2;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && base >= (long)rl.rlim_cur)
		base = 3;
	int h = libc_fcntl(fd, F_DUPFD_CLOEXEC, (void *)(intptr_t)base);
	if (h < 0)
		h = libc_fcntl(fd, F_DUPFD_CLOEXEC, (void *)(intptr_t)3);
	return h;
}

void sb_circuit_fdtab_register(int fd, struct sb_circuit *c)
{
	/* The fd table of the circuit library serves the zero-copy API; the socket keeps owning c. */
	if (sb_fdtab_get(fd) == NULL)
		sb_fdtab_put(fd, c);
}

void sb_circuit_fdtab_unregister(int fd)
{
	(void)sb_fdtab_take(fd);
}

int sb_sock_other_fd(const struct sb_sock *s, int except)
{
	size_t len = atomic_load_explicit(&sb_socks_len, memory_order_acquire);
	struct sb_sock *_Atomic *t = atomic_load_explicit(&sb_socks, memory_order_acquire);
	for (size_t i = 0; t != NULL && i < len; i++)
		if ((int)i != except && atomic_load_explicit(&t[i], memory_order_acquire) == s)
			return (int)i;
	return -1;
}

void sb_sock_mark_all_shared(void)
{
	size_t len = atomic_load_explicit(&sb_socks_len, memory_order_acquire);
	struct sb_sock *_Atomic *t = atomic_load_explicit(&sb_socks, memory_order_acquire);
	for (size_t i = 0; t != NULL && i < len; i++) {
		struct sb_sock *s = atomic_load_explicit(&t[i], memory_order_acquire);
		if (s != NULL)
			s->shared = true;
	}
}

static _Atomic pid_t sb_vfork_parent; /* 0, or the pid that last called vfork */

void sb_vfork_begin(void)
{
	atomic_store(&sb_vfork_parent, (pid_t)syscall(SYS_getpid));
}

bool sb_in_vfork_child(void)
{
	pid_t parent = atomic_load_explicit(&sb_vfork_parent, memory_order_relaxed);
	if (parent == 0)
		return false;
	if ((pid_t)syscall(SYS_getpid) == parent) {
		atomic_store(&sb_vfork_parent, 0); /* the parent runs again: the child exec'd or exited */
		return false;
	}
	return true;
}

static void sb_sock_after_fork(void)
{
	sb_sock_mark_all_shared();
}

static void sb_sock_after_fork_child(void)
{
	atomic_store(&sb_vfork_parent, 0);
	sb_sock_mark_all_shared();
}

__attribute__((constructor)) static void sb_sock_init(void)
{
	/* Both processes: the parent's sockets are now the child's too. */
	pthread_atfork(NULL, sb_sock_after_fork, sb_sock_after_fork_child);
}
