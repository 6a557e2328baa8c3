/*
 * Socket addresses: checking what a program passes as Linux does, and
 * converting between sockaddrs and the wire protocol's sb_proto_addr.
 */
#ifndef SB_SOCK_ADDR_H
#define SB_SOCK_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>

#include "sb_protocol.h"

/* bind(): 0 if `addr` is acceptable for a socket of `domain`, else -errno (EINVAL, EAFNOSUPPORT…). */
int sb_addr_check_bind(int domain, const struct sockaddr *addr, socklen_t len);

/* connect(): 0, 1 for AF_UNSPEC (dissolve the association), or -errno. */
int sb_addr_check_connect(int domain, const struct sockaddr *addr, socklen_t len);

/* sockaddr (already checked) → protocol address.  The wildcard destination means this host: loopback, as Linux does. */
void sb_addr_to_proto(const struct sockaddr *addr, struct sb_proto_addr *out);
void sb_addr_connect_target(int domain, const struct sockaddr *addr, struct sb_proto_addr *out);
/* What bind() asks the operator for: the address as given (AF_UNSPEC, which AF_INET's bind accepts, as AF_INET). */
void sb_addr_bind_request(const struct sockaddr *addr, struct sb_proto_addr *out);

/* protocol address → sockaddr of the socket's domain (an AF_INET address on an AF_INET6 socket becomes v4-mapped). */
socklen_t sb_addr_from_proto(int domain, const struct sb_proto_addr *in, struct sockaddr_storage *out);

/* The wildcard address of the domain, port 0. */
socklen_t sb_addr_any(int domain, struct sockaddr_storage *out);

/* Copies an address out as the kernel does: truncated to *len, *len set to the full length. */
void sb_addr_copy_out(const struct sockaddr_storage *a, socklen_t alen, struct sockaddr *out, socklen_t *len);

/* Port of an AF_INET/AF_INET6 sockaddr (host order), and setting it. */
unsigned sb_addr_port(const struct sockaddr_storage *a);
void sb_addr_set_port(struct sockaddr_storage *a, unsigned port);
bool sb_addr_is_any(const struct sockaddr_storage *a);
/* Resets the address part to the wildcard, keeping the port. */
void sb_addr_reset_to_any(struct sockaddr_storage *a);

#endif
