/*
 * Readiness over the shim's sockets and kernel fds together: poll/ppoll,
 * select/pselect (sock/poll.c); epoll is sock/epoll.h.  >= 0 or -errno.
 */
#ifndef SB_SOCK_READINESS_H
#define SB_SOCK_READINESS_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/select.h>

#include "sock.h"

/* Whether any of the fds is one of our sockets (if not, the kernel does it all). */
bool sb_poll_has_socket(const struct pollfd *fds, nfds_t n);
bool sb_select_has_socket(int nfds, const fd_set *rd, const fd_set *wr, const fd_set *ex);

/* poll over everything; timeout_ns < 0: forever. */
int sb_poll_sockets(struct pollfd *fds, nfds_t n, int64_t timeout_ns, const sigset_t *sigmask);
/* select over everything, by way of poll. */
int sb_select_sockets(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, int64_t timeout_ns, const sigset_t *sigmask);

#endif
