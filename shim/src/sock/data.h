/*
 * Moving bytes over a socket's circuit: what every send and receive
 * function of the libc surface (send, sendto, sendmsg, write, writev, recv,
 * recvfrom, recvmsg, read, readv, …) comes down to.  >= 0 or -errno; SIGPIPE
 * is raised here when the machine says so and MSG_NOSIGNAL is absent.
 */
#ifndef SB_SOCK_DATA_H
#define SB_SOCK_DATA_H

#include <sys/types.h>
#include <sys/uio.h>

#include "sock.h"

ssize_t sb_sock_sendv(struct sb_sock *s, const struct iovec *iov, int iovcnt, int flags);
/* *msg_flags (may be NULL) gets recvmsg's msg_flags. */
ssize_t sb_sock_recvv(struct sb_sock *s, const struct iovec *iov, int iovcnt, int flags, int *msg_flags);

#endif
