/*
 * The shim's session with the switch operator: one SOCK_SEQPACKET connection
 * per process to the tenant socket named by $SWITCHBOARD_SOCKET, opened on
 * first use, reopened in a child after fork (the parent's connection is not
 * ours to share: replies would go to whichever process reads first).
 *
 * Requests are synchronous: one at a time per process (a mutex), answered in
 * order by the operator; a reply carries the request's id, and a reply to a
 * request we gave up on (interrupted connect) is recognised and dropped,
 * fds closed.
 */
#ifndef SB_SOCK_CONTROL_H
#define SB_SOCK_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "sb_protocol.h"

/* Whether the shim runs under an operator at all ($SWITCHBOARD_SOCKET set); if not, sockets stay the kernel's. */
bool sb_control_enabled(void);

struct sb_control_reply {
	struct sb_proto_msg msg;
	int fds[SB_PROTO_MAX_FDS];
	unsigned nfds;
};

/*
 * Sends `req` (with `fds` attached) and waits for its reply.  0 and *reply, or
 * -errno: ECONNREFUSED when the operator cannot be reached (or went away),
 * EINTR when `interruptible` and a signal arrived first (the reply, if it
 * comes, is dropped), EPROTO when it answers nonsense.  An `error` reply is
 * returned as 0 with reply->msg.type == SB_PROTO_MSG_ERROR.  The caller owns
 * the fds in *reply.
 */
int sb_control_request(const struct sb_proto_msg *req, const int *fds, unsigned nfds, struct sb_control_reply *reply,
		       bool interruptible);

/* Sends a notice (no reply); failures are ignored (notices are for accounting). */
void sb_control_notice(const struct sb_proto_msg *notice);

/*
 * One message from an operator socket (the session, or a listener's port
 * fd), its SCM_RIGHTS fds (close-on-exec) into r->fds: the byte count, or
 * -errno.  *truncated: the message or its fds did not fit.
 */
ssize_t sb_control_recvmsg(int fd, int flags, unsigned char *buf, size_t cap, struct sb_control_reply *r,
			   bool *truncated);

/* Calls fn(fd, ctx) for every fd the SCM_RIGHTS messages of m carry. */
struct msghdr;
void sb_each_right(const struct msghdr *m, void (*fn)(int fd, void *ctx), void *ctx);

/* Closes the reply's fds (after an error, or when the caller does not want them). */
void sb_control_drop_fds(struct sb_control_reply *reply);

#endif
