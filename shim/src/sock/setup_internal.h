/*
 * What sock/setup.c and sock/connect.c share; not for the rest of the shim.
 */
#ifndef SB_SOCK_SETUP_INTERNAL_H
#define SB_SOCK_SETUP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "control.h"
#include "sock.h"

/* Linux's default ephemeral port range (net.ipv4.ip_local_port_range). */
#define SB_EPHEMERAL_LOW 32768
#define SB_EPHEMERAL_HIGH 60999

/* The errno an operator's reply carries (-errno; EPROTO for a reply that is not an error). */
int sb_errno_reply(const struct sb_control_reply *r);

/* Puts `newfd` in place of the program's fd number (close-on-exec kept, O_NONBLOCK as the socket's); 0 or -errno. */
int sb_replace_fd(int fd, int newfd, bool nonblock);

/* A fresh placeholder kernel socket: what an unconnected, unbound socket's fd is (fd or -errno). */
int sb_placeholder(int type_flags);

/* The bind options the operator must know (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY). */
uint8_t sb_bind_options(const struct sb_sock *s);

/* Asks the operator to reserve `addr` for the socket's type (port 0: an ephemeral one); on success the
 * port fd replaces fd.  0, -EADDRINUSE, -EADDRNOTAVAIL (no operator), or another -errno. */
int sb_reserve(struct sb_sock *s, int fd, const struct sb_proto_addr *addr);

/* A new socket's fd into the table: fd, or -errno with both the socket and the fd gone. */
int sb_sock_register(int fd, struct sb_sock *s);

/* Gives the socket's reservation back to the operator. */
void sb_release(struct sb_sock *s);

/* Ends the connection or the listening as tcp_disconnect does (the peer sees a reset when `reset_peer`). */
void sb_disconnect(struct sb_sock *s, int fd, bool reset_peer);

/* A plausible ephemeral port for a failed attempt to show. */
unsigned sb_stale_port(void);

#endif
