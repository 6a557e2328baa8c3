/*
 * Runtime entry points for socket setup: socket, bind, listen, accept, connect, options and names.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  Under an operator ($SWITCHBOARD_SOCKET), AF_INET and AF_INET6 stream
 * sockets (sock/) and datagram sockets (udp/) are the shim's: their calls go
 * to those layers, which run them over circuits.  Every other fd passes straight through to glibc
 * (libc_<name>()).  Prototypes come from the generated sb_libc.h.
 */
#include <netinet/in.h>

#include "sb_libc.h"
#include "sock/control.h"
#include "sock/options.h"
#include "sock/result.h"
#include "sock/setup.h"
#include "udp/udp.h"

/* The socket type the shim runs over circuits (SOCK_STREAM: TCP, SOCK_DGRAM: UDP), or 0: the kernel's. */
static int sb_circuit_socket_type(int domain, int type, int protocol)
{
	int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (domain != AF_INET && domain != AF_INET6)
		return 0;
	bool tcp = base == SOCK_STREAM && (protocol == 0 || protocol == IPPROTO_TCP);
	bool udp = base == SOCK_DGRAM && (protocol == 0 || protocol == IPPROTO_UDP);
	return (tcp || udp) && sb_control_enabled() ? base : 0;
}

int sb_socket(int domain, int type, int protocol)
{
	switch (sb_circuit_socket_type(domain, type, protocol)) {
	case SOCK_STREAM:
		return (int)sb_result(sb_sock_socket(domain, type));
	case SOCK_DGRAM:
		return (int)sb_result(sb_udp_socket(domain, type));
	default:
		return libc_socket(domain, type, protocol);
	}
}

int sb_socketpair(int domain, int type, int protocol, int sv[2])
{
	return libc_socketpair(domain, type, protocol, sv);
}

int sb_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_bind(fd, addr, len);
	return (int)sb_result(s->udp ? sb_udp_bind(s, fd, addr, len) : sb_sock_bind(s, fd, addr, len));
}

int sb_listen(int fd, int backlog)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_listen(fd, backlog);
	return (int)sb_result(s->udp ? -EOPNOTSUPP : sb_sock_listen(s, fd, backlog));
}

int sb_accept(int fd, struct sockaddr *addr, socklen_t *addr_len)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_accept(fd, addr, addr_len);
	return (int)sb_result(s->udp ? -EOPNOTSUPP : sb_sock_accept(s, fd, addr, addr_len, 0));
}

int sb_accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_accept4(fd, addr, addr_len, flags);
	return (int)sb_result(s->udp ? -EOPNOTSUPP : sb_sock_accept(s, fd, addr, addr_len, flags));
}

int sb_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_connect(fd, addr, len);
	return (int)sb_result(s->udp ? sb_udp_connect(s, fd, addr, len) : sb_sock_connect(s, fd, addr, len));
}

int sb_shutdown(int fd, int how)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_shutdown(fd, how);
	return (int)sb_result(s->udp ? sb_udp_shutdown(s, fd, how) : sb_sock_shutdown(s, fd, how));
}

int sb_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
	struct sb_sock *s = sb_sock_get(fd);
	return s ? (int)sb_result(sb_sock_getsockopt(s, level, optname, optval, optlen))
		 : libc_getsockopt(fd, level, optname, optval, optlen);
}

int sb_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
	struct sb_sock *s = sb_sock_get(fd);
	return s ? (int)sb_result(sb_sock_setsockopt(s, level, optname, optval, optlen))
		 : libc_setsockopt(fd, level, optname, optval, optlen);
}

int sb_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sb_sock *s = sb_sock_get(fd);
	return s ? (int)sb_result(sb_sock_name(s, false, addr, len)) : libc_getsockname(fd, addr, len);
}

int sb_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct sb_sock *s = sb_sock_get(fd);
	return s ? (int)sb_result(sb_sock_name(s, true, addr, len)) : libc_getpeername(fd, addr, len);
}
