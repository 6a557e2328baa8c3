/*
 * Setting sockets up and taking them down over circuits (socket, bind,
 * listen, accept, connect, shutdown, close).  Each returns >= 0 or -errno.
 */
#ifndef SB_SOCK_SETUP_H
#define SB_SOCK_SETUP_H

#include "sock.h"

/* A new AF_INET/AF_INET6 SOCK_STREAM socket (type may carry SOCK_NONBLOCK|SOCK_CLOEXEC): its fd. */
int sb_sock_socket(int domain, int type);
int sb_sock_bind(struct sb_sock *s, int fd, const struct sockaddr *addr, socklen_t len);
int sb_sock_listen(struct sb_sock *s, int fd, int backlog);
int sb_sock_accept(struct sb_sock *s, int fd, struct sockaddr *addr, socklen_t *addrlen, int flags);
int sb_sock_connect(struct sb_sock *s, int fd, const struct sockaddr *addr, socklen_t len);
/*
 * A connect still under way (state connecting: the listener's queue was
 * full) asks again; `wait`: until there is room or a signal.  Called with
 * s->lock held.  0 when it settled (connected, or failed with the error
 * pending), -EAGAIN when the queue is still full, -EINTR, or -errno.
 */
int sb_sock_settle_connect(struct sb_sock *s, bool wait);
int sb_sock_shutdown(struct sb_sock *s, int fd, int how);
/* close(): any fd (a socket of ours or not). */
int sb_sock_close(int fd);
/* The kernel already let go of fd (dup2/dup3 onto it): the socket behind it ends if that was our last fd of it. */
void sb_sock_dropped(int fd);

#endif
