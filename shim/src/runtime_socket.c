/*
 * Runtime entry points for socket setup: socket, bind, listen, accept, connect, options and names.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  Today every one passes straight through to glibc via libc_<name>();
 * circuit handling replaces a body here, without touching generated code
 * (docs/libc-surface.md).  Prototypes come from the generated sb_libc.h, so a
 * signature that drifts from specs/libc.ts fails to compile, and a missing
 * entry fails to link (-z defs).
 */
#include "sb_libc.h"

int sb_socket(int domain, int type, int protocol)
{
    return libc_socket(domain, type, protocol);
}

int sb_socketpair(int domain, int type, int protocol, int sv[2])
{
    return libc_socketpair(domain, type, protocol, sv);
}

int sb_bind(int fd, const struct sockaddr *addr, socklen_t len)
{
    return libc_bind(fd, addr, len);
}

int sb_listen(int fd, int backlog)
{
    return libc_listen(fd, backlog);
}

int sb_accept(int fd, struct sockaddr *addr, socklen_t *addr_len)
{
    return libc_accept(fd, addr, addr_len);
}

int sb_accept4(int fd, struct sockaddr *addr, socklen_t *addr_len, int flags)
{
    return libc_accept4(fd, addr, addr_len, flags);
}

int sb_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    return libc_connect(fd, addr, len);
}

int sb_shutdown(int fd, int how)
{
    return libc_shutdown(fd, how);
}

int sb_getsockopt(int fd, int level, int optname, void *optval, socklen_t *optlen)
{
    return libc_getsockopt(fd, level, optname, optval, optlen);
}

int sb_setsockopt(int fd, int level, int optname, const void *optval, socklen_t optlen)
{
    return libc_setsockopt(fd, level, optname, optval, optlen);
}

int sb_getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
    return libc_getsockname(fd, addr, len);
}

int sb_getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
    return libc_getpeername(fd, addr, len);
}
