/*
 * AF_INET/AF_INET6 SOCK_DGRAM sockets over datagram circuits, one circuit per
 * peer socket (flows.h).  What Linux does is decided by the generated machine
 * (specs/socket/dgram.ts → sb_machine_dgram); this is the work around it.
 *
 * The program's fd follows the socket's phase as for streams (sock.h): a
 * placeholder while fresh, then the reservation's port fd, which stays (a
 * datagram socket has one port and many peers).  Everything returns >= 0 or
 * -errno.
 */
#ifndef SB_UDP_H
#define SB_UDP_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "sb_protocol.h"
#include "sock/sock.h"

int sb_udp_socket(int domain, int type);
int sb_udp_bind(struct sb_sock *s, int fd, const struct sockaddr *addr, socklen_t len);
int sb_udp_connect(struct sb_sock *s, int fd, const struct sockaddr *addr, socklen_t len);
int sb_udp_shutdown(struct sb_sock *s, int fd, int how);

/* sendmsg/recvmsg and everything that comes down to them (msg_name may be NULL; recvmsg fills
 * msg_namelen, msg_controllen and msg_flags as the kernel does). */
ssize_t sb_udp_sendmsg(struct sb_sock *s, int fd, const struct msghdr *m, int flags);
ssize_t sb_udp_recvmsg(struct sb_sock *s, int fd, struct msghdr *m, int flags);

/* getsockopt(SO_ERROR): the pending error, cleared.  0 or -errno. */
int sb_udp_so_error(struct sb_sock *s, int *value);
/* FIONREAD: the size of the next datagram (0 if none). */
int sb_udp_next_len(struct sb_sock *s);

/* Readiness (poll bits) as the machine says, from the rings (no system call but the mailbox's news). */
unsigned sb_udp_poll(struct sb_sock *s);
/* The kernel fd that becomes readable when something may have changed (-1: nothing can, yet). */
int sb_udp_wake_fd(const struct sb_sock *s);
/* Before sleeping on the wake fd: announce on every flow; true if something is ready already. */
bool sb_udp_arm(struct sb_sock *s);
void sb_udp_disarm(struct sb_sock *s);
/* After waking: doorbells acknowledged, new peers taken, hang-ups noted. */
void sb_udp_ack(struct sb_sock *s);

/* A number that changes whenever a datagram arrives (edge-triggered epoll compares it). */
uint64_t sb_udp_arrivals(struct sb_sock *s);

/* A datagram socket's port fd this process inherited (exec) and the operator recognised (claim):
 * the socket, bound, receiving again; or NULL.  Its flows stayed behind (their peers open new ones). */
struct sb_sock *sb_udp_claimed(int fd, const struct sb_proto_claim_port *m);

/* The socket's end in this process (its last fd closing): its flows go (the peers are told
 * unless another process holds the socket: `last` false); the port is sb_release's. */
void sb_udp_end(struct sb_sock *s, bool last);

#endif
