/*
 * Runtime entry points for I/O: send and receive in all their forms, read/write, sendfile, splice.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  Today every one passes straight through to glibc via libc_<name>();
 * circuit handling replaces a body here, without touching generated code
 * (docs/libc-surface.md).  Prototypes come from the generated sb_libc.h, so a
 * signature that drifts from specs/libc.ts fails to compile, and a missing
 * entry fails to link (-z defs).
 */
#include "sb_libc.h"

ssize_t sb_send(int fd, const void *buf, size_t n, int flags)
{
    return libc_send(fd, buf, n, flags);
}

ssize_t sb_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t addr_len)
{
    return libc_sendto(fd, buf, n, flags, addr, addr_len);
}

ssize_t sb_sendmsg(int fd, const struct msghdr *message, int flags)
{
    return libc_sendmsg(fd, message, flags);
}

int sb_sendmmsg(int fd, struct mmsghdr *vmessages, unsigned int vlen, int flags)
{
    return libc_sendmmsg(fd, vmessages, vlen, flags);
}

ssize_t sb_recv(int fd, void *buf, size_t n, int flags)
{
    return libc_recv(fd, buf, n, flags);
}

ssize_t sb_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *addr_len)
{
    return libc_recvfrom(fd, buf, n, flags, addr, addr_len);
}

ssize_t sb_recvmsg(int fd, struct msghdr *message, int flags)
{
    return libc_recvmsg(fd, message, flags);
}

int sb_recvmmsg(int fd, struct mmsghdr *vmessages, unsigned int vlen, int flags, struct timespec *tmo)
{
    return libc_recvmmsg(fd, vmessages, vlen, flags, tmo);
}

ssize_t sb_read(int fd, void *buf, size_t nbytes)
{
    return libc_read(fd, buf, nbytes);
}

ssize_t sb_write(int fd, const void *buf, size_t n)
{
    return libc_write(fd, buf, n);
}

ssize_t sb_readv(int fd, const struct iovec *iovec, int count)
{
    return libc_readv(fd, iovec, count);
}

ssize_t sb_writev(int fd, const struct iovec *iovec, int count)
{
    return libc_writev(fd, iovec, count);
}

ssize_t sb_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
    return libc_sendfile(out_fd, in_fd, offset, count);
}

ssize_t sb_splice(int fdin, off64_t *offin, int fdout, off64_t *offout, size_t len, unsigned int flags)
{
    return libc_splice(fdin, offin, fdout, offout, len, flags);
}
