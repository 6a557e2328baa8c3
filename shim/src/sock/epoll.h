/*
 * epoll over the shim's sockets and kernel fds together (sock/epoll.c).
 * The runtime (runtime_readiness.c) sends an epoll call here only when it
 * involves one of our sockets; everything else stays the kernel's.
 */
#ifndef SB_SOCK_EPOLL_H
#define SB_SOCK_EPOLL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "sock.h"

/* epoll_ctl for one of our sockets, or for an epoll instance nested in another (fd): 0 or -errno, as the kernel's. */
int sb_epoll_ctl_socket(int epfd, int op, int fd, struct epoll_event *event);

/* Whether epfd has any of our sockets in its interest list (if not, epoll_wait is the kernel's). */
bool sb_epoll_knows_sockets(int epfd);

/* epoll_wait over everything; timeout_ns < 0: forever.  >= 0 or -errno. */
int sb_epoll_wait_sockets(int epfd, struct epoll_event *events, int max, int64_t timeout_ns, const sigset_t *sigmask);

/* epoll_create made fd (an epoll instance may be nested in another, or poll()ed). */
void sb_epoll_created(int fd);
bool sb_epoll_is_epfd(int fd);

/* An epoll fd with sockets of ours, in poll/select: ready now?  Announce sleeps on its circuits (true: one is ready already); withdraw. */
bool sb_epoll_peek_fd(int epfd);
bool sb_epoll_arm_fd(int epfd, bool *retry);
void sb_epoll_disarm_fd(int epfd);

/* fd is about to be closed (or replaced by dup2): forget it as an epoll fd and as a registered socket. */
void sb_epoll_fd_closing(int fd);

#endif
