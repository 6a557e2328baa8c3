/* The session with the operator; see control.h. */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "sb_libc.h"

#define SB_CONTROL_ENV "SWITCHBOARD_SOCKET"

static pthread_mutex_t sb_control_lock = PTHREAD_MUTEX_INITIALIZER;
static int sb_control_fd = -1;
static pid_t sb_control_owner; /* the process that opened sb_control_fd */
static uint32_t sb_control_next_id = 1;

bool sb_control_enabled(void)
{
	const char *path = getenv(SB_CONTROL_ENV);
	return path != NULL && path[0] != '\0';
}

static uint32_t sb_control_id(void)
{
	uint32_t id = sb_control_next_id++;
	if (sb_control_next_id == 0)
		sb_control_next_id = 1; /* 0 is for notices */
	return id;
}

static void sb_control_disconnect(void)
{
	if (sb_control_fd >= 0)
		libc_close(sb_control_fd);
	sb_control_fd = -1;
}

static void sb_close_fds(const int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (fds[i] >= 0)
			libc_close(fds[i]);
}

void sb_each_right(const struct msghdr *m, void (*fn)(int fd, void *ctx), void *ctx)
{
	if (m == NULL || m->msg_control == NULL)
		return;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
			fn(fd, ctx);
		}
	}
}

/* Keeps a received fd in the reply, or closes it when there are more than a message can carry. */
static void sb_keep_right(int fd, void *ctx)
{
	struct sb_control_reply *r = ctx;
	if (r->nfds < SB_PROTO_MAX_FDS)
		r->fds[r->nfds++] = fd;
	else
		libc_close(fd);
}

ssize_t sb_control_recvmsg(int fd, int flags, unsigned char *buf, size_t cap, struct sb_control_reply *r,
			   bool *truncated)
{
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(SB_PROTO_MAX_FDS * sizeof(int))];
	} control;
	struct iovec iov = { buf, cap };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes,
			     .msg_controllen = sizeof control.bytes };
	r->nfds = 0;
	ssize_t n = libc_recvmsg(fd, &mh, flags | MSG_CMSG_CLOEXEC);
	if (n < 0)
		return -errno;
	sb_each_right(&mh, sb_keep_right, r);
	*truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	return n;
}

/* One datagram from the operator, with its fds; -errno on failure (EINTR included). */
static int sb_control_receive(struct sb_control_reply *r)
{
	unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE];
	bool truncated = false;
	ssize_t n = sb_control_recvmsg(sb_control_fd, 0, buf, sizeof buf, r, &truncated);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNREFUSED; /* the operator went away */
	struct sb_proto_fault fault;
	if (truncated || sb_proto_decode(buf, (size_t)n, SB_PROTO_ROUTE_OPERATOR_TO_SHIM, &r->msg, &fault) != SB_PROTO_OK ||
	    sb_proto_info_of(r->msg.type)->fds != r->nfds) {
		sb_close_fds(r->fds, r->nfds);
		r->nfds = 0;
		return -EPROTO;
	}
	return 0;
}

static int sb_control_send(const struct sb_proto_msg *m, const int *fds, unsigned nfds)
{
	unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE];
	size_t len;
	if (sb_proto_encode(m, buf, sizeof buf, &len) != SB_PROTO_OK)
		return -EINVAL;
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(SB_PROTO_MAX_FDS * sizeof(int))];
	} control;
	struct iovec iov = { buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		memset(&control, 0, sizeof control);
		mh.msg_control = control.bytes;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
	}
	for (;;) {
		ssize_t n = libc_sendmsg(sb_control_fd, &mh, MSG_NOSIGNAL);
		if (n >= 0)
			return 0;
		if (errno != EINTR)
			return errno == EPIPE || errno == ECONNRESET ? -ECONNREFUSED : -errno;
	}
}

/* Opens the session if needed (or again in a forked child): 0 or -errno. */
static int sb_control_open(void)
{
	pid_t me = getpid();
	if (sb_control_fd >= 0 && sb_control_owner == me)
		return 0;
	if (sb_control_fd >= 0) {
		/* Inherited across fork: the parent's session. Ours starts afresh. */
		sb_control_disconnect();
	}
	const char *path = getenv(SB_CONTROL_ENV);
	if (path == NULL || path[0] == '\0')
		return -ECONNREFUSED;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sun.sun_path)
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	int fd = libc_socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (libc_connect(fd, (struct sockaddr *)&sun, sizeof sun) < 0) {
		int e = errno;
		libc_close(fd);
		/* No operator there (or not reachable): connects fail as to a closed port. */
		return e == ENOENT || e == ECONNREFUSED ? -ECONNREFUSED : -e;
	}
	sb_control_fd = fd;
	sb_control_owner = me;

	struct sb_proto_msg hello = { .type = SB_PROTO_MSG_HELLO, .request_id = sb_control_id() };
	hello.as.hello.pid = (int32_t)me;
	hello.as.hello.capabilities = SB_PROTO_SHIM_CAPS_INET6 | SB_PROTO_SHIM_CAPS_ZERO_COPY;
	snprintf(hello.as.hello.shim_version, sizeof hello.as.hello.shim_version, "%s", "0.1.0");
	char comm[17] = "";
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	snprintf(hello.as.hello.program, sizeof hello.as.hello.program, "%s", comm);
	int rc = sb_control_send(&hello, NULL, 0);
	struct sb_control_reply r;
	while (rc == 0) {
		rc = sb_control_receive(&r);
		if (rc == -EINTR) {
			rc = 0;
			continue;
		}
		if (rc == 0) {
			sb_close_fds(r.fds, r.nfds);
			if (r.msg.request_id != hello.request_id)
				continue;
			rc = r.msg.type == SB_PROTO_MSG_HELLO_REPLY ? 0
			     : r.msg.type == SB_PROTO_MSG_ERROR   ? -r.msg.as.error.errnum
								  : -EPROTO;
			break;
		}
	}
	if (rc < 0)
		sb_control_disconnect();
	return rc;
}

int sb_control_request(const struct sb_proto_msg *req, const int *fds, unsigned nfds, struct sb_control_reply *reply,
		       bool interruptible)
{
	int saved_errno = errno;
	pthread_mutex_lock(&sb_control_lock);
	int rc = sb_control_open();
	if (rc < 0)
		goto out;
	struct sb_proto_msg m = *req;
	m.request_id = sb_control_id();
	rc = sb_control_send(&m, fds, nfds);
	if (rc < 0)
		goto broken;
	for (;;) {
		rc = sb_control_receive(reply);
		if (rc == -EINTR) {
			if (!interruptible)
				continue;
			/*
			 * The operator answers a session's requests in order, and it is
			 * still holding this one (a connect waiting for room in a backlog):
			 * everything we asked later would wait behind it.  Ending the
			 * session withdraws it (the operator fails a waiting connect whose
			 * session closed); the next request opens a new session.
			 */
			sb_control_disconnect();
			goto out;
		}
		if (rc < 0)
			goto broken;
		if (reply->msg.request_id == m.request_id)
			goto out;
		/* Only the operator's fatal error (id 0) can come between: the session is over. */
		sb_control_drop_fds(reply);
		rc = -EPROTO;
		goto broken;
	}
broken:
	sb_control_disconnect();
	if (rc == -EPROTO || rc == -ECONNRESET || rc == -EPIPE)
		rc = rc == -EPROTO ? -EPROTO : -ECONNREFUSED;
out:
	pthread_mutex_unlock(&sb_control_lock);
	errno = saved_errno;
	return rc;
}

void sb_control_notice(const struct sb_proto_msg *notice)
{
	int saved_errno = errno;
	pthread_mutex_lock(&sb_control_lock);
	if (sb_control_open() == 0 && sb_control_send(notice, NULL, 0) < 0)
		sb_control_disconnect();
	pthread_mutex_unlock(&sb_control_lock);
	errno = saved_errno;
}

void sb_control_drop_fds(struct sb_control_reply *reply)
{
	sb_close_fds(reply->fds, reply->nfds);
	reply->nfds = 0;
}

/* After fork the child must not touch the parent's session (nor a lock another thread held). */
static void sb_control_atfork_child(void)
{
	pthread_mutex_init(&sb_control_lock, NULL);
}

__attribute__((constructor)) static void sb_control_init(void)
{
	pthread_atfork(NULL, NULL, sb_control_atfork_child);
}
