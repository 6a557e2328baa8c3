/*
 * Names (getsockname/getpeername, through the state machine) and the options,
 * ioctls and flags a program sets and reads back.  >= 0 or -errno.
 */
#ifndef SB_SOCK_OPTIONS_H
#define SB_SOCK_OPTIONS_H

#include <stdbool.h>

#include "sock.h"

int sb_sock_name(struct sb_sock *s, bool peer, struct sockaddr *addr, socklen_t *len);
int sb_sock_getsockopt(struct sb_sock *s, int level, int name, void *val, socklen_t *len);
int sb_sock_setsockopt(struct sb_sock *s, int level, int name, const void *val, socklen_t len);
int sb_sock_ioctl(struct sb_sock *s, int fd, unsigned long request, void *arg);

#endif
