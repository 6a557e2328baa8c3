/*
 * Runtime entry points for I/O: send and receive in all their forms, read/write, sendfile, splice.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  On the shim's stream sockets (sock/) every form comes down to
 * sb_sock_sendv/sb_sock_recvv over the circuit, on its datagram sockets (udp/)
 * to sb_udp_sendmsg/sb_udp_recvmsg; every other fd passes straight through to
 * glibc (libc_<name>()).  Prototypes come from the generated sb_libc.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sb_libc.h"
#include "sock/inherit.h"
#include "sock/data.h"
#include "sock/result.h"
#include "udp/udp.h"

/* The datagram forms: every send and receive of a UDP socket is one sendmsg/recvmsg. */
static ssize_t sb_dgram_send(struct sb_sock *s, int fd, const struct iovec *iov, size_t n, const struct sockaddr *to,
			     socklen_t tolen, int flags)
{
	struct msghdr m = { .msg_name = (void *)to, .msg_namelen = to != NULL ? tolen : 0, .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	return sb_udp_sendmsg(s, fd, &m, flags);
}

static ssize_t sb_dgram_recv(struct sb_sock *s, int fd, const struct iovec *iov, size_t n, struct sockaddr *from,
			     socklen_t *fromlen, int flags)
{
	struct msghdr m = { .msg_name = from, .msg_namelen = from != NULL && fromlen != NULL ? *fromlen : 0,
			    .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
	if ((int)m.msg_namelen < 0)
		return -EINVAL;
	ssize_t rc = sb_udp_recvmsg(s, fd, &m, flags);
	if (rc >= 0 && from != NULL && fromlen != NULL)
		*fromlen = m.msg_namelen;
	return rc;
}

ssize_t sb_send(int fd, const void *buf, size_t n, int flags)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_send(fd, buf, n, flags);
	struct iovec v = { (void *)buf, n };
	if (s->udp != NULL)
		return sb_result(sb_dgram_send(s, fd, &v, 1, NULL, 0, flags));
	return sb_result(sb_sock_sendv(s, &v, 1, flags));
}

ssize_t sb_sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t addr_len)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_sendto(fd, buf, n, flags, addr, addr_len);
	struct iovec v = { (void *)buf, n };
	if (s->udp != NULL)
		return sb_result(sb_dgram_send(s, fd, &v, 1, addr, addr_len, flags));
	/* A stream socket ignores the destination (tcp_sendmsg). */
	return sb_result(sb_sock_sendv(s, &v, 1, flags));
}

ssize_t sb_sendmsg(int fd, const struct msghdr *message, int flags)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL) {
		ssize_t rc = libc_sendmsg(fd, message, flags);
		if (rc >= 0)
			sb_inherit_sent_rights(message); /* our sockets in SCM_RIGHTS: another process holds them now */
		return rc;
	}
	if (message == NULL)
		return sb_result(-EFAULT);
	if (message->msg_iovlen > IOV_MAX)
		return sb_result(-EMSGSIZE);
	if (s->udp != NULL)
		return sb_result(sb_udp_sendmsg(s, fd, message, flags));
	return sb_result(sb_sock_sendv(s, message->msg_iov, (int)message->msg_iovlen, flags));
}

int sb_sendmmsg(int fd, struct mmsghdr *vmessages, unsigned int vlen, int flags)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_sendmmsg(fd, vmessages, vlen, flags);
	if (vlen > UIO_MAXIOV)
		vlen = UIO_MAXIOV;
	unsigned i = 0;
	for (; i < vlen; i++) {
		const struct msghdr *m = &vmessages[i].msg_hdr;
		ssize_t n = s->udp != NULL ? sb_udp_sendmsg(s, fd, m, flags) : sb_sock_sendv(s, m->msg_iov, (int)m->msg_iovlen, flags);
		if (n < 0) {
			/* Like __sys_sendmmsg: the count if any went, else the error. */
			if (i == 0)
				return (int)sb_result(n);
			break;
		}
		vmessages[i].msg_len = (unsigned)n;
	}
	return (int)i;
}

ssize_t sb_recv(int fd, void *buf, size_t n, int flags)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_recv(fd, buf, n, flags);
	struct iovec v = { buf, n };
	if (s->udp != NULL)
		return sb_result(sb_dgram_recv(s, fd, &v, 1, NULL, NULL, flags));
	return sb_result(sb_sock_recvv(s, &v, 1, flags, NULL));
}

ssize_t sb_recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *addr_len)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_recvfrom(fd, buf, n, flags, addr, addr_len);
	struct iovec v = { buf, n };
	if (s->udp != NULL)
		return sb_result(sb_dgram_recv(s, fd, &v, 1, addr, addr_len, flags));
	ssize_t rc = sb_sock_recvv(s, &v, 1, flags, NULL);
	if (rc >= 0 && addr_len != NULL)
		*addr_len = 0; /* a connected stream has no per-message source (tcp_recvmsg leaves msg_namelen 0) */
	return sb_result(rc);
}

ssize_t sb_recvmsg(int fd, struct msghdr *message, int flags)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL) {
		ssize_t rc = libc_recvmsg(fd, message, flags);
		if (rc >= 0)
			sb_inherit_received_rights(message); /* fds from SCM_RIGHTS may be circuits: claim them */
		return rc;
	}
	if (message == NULL)
		return sb_result(-EFAULT);
	if (s->udp != NULL)
		return sb_result(sb_udp_recvmsg(s, fd, message, flags));
	int mflags = 0;
	ssize_t rc = sb_sock_recvv(s, message->msg_iov, (int)message->msg_iovlen, flags, &mflags);
	if (rc >= 0) {
		message->msg_namelen = 0;
		message->msg_controllen = 0;
		message->msg_flags = mflags;
	}
	return sb_result(rc);
}

int sb_recvmmsg(int fd, struct mmsghdr *vmessages, unsigned int vlen, int flags, struct timespec *tmo)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_recvmmsg(fd, vmessages, vlen, flags, tmo);
	unsigned i = 0;
	for (; i < vlen; i++) {
		struct msghdr *m = &vmessages[i].msg_hdr;
		int mflags = 0;
		/* After the first message, only what is already there (MSG_WAITFORONE semantics are the default's spirit). */
		int f = i == 0 ? flags & ~MSG_WAITFORONE : flags | ((flags & MSG_WAITFORONE) ? MSG_DONTWAIT : 0);
		if (s->udp != NULL) {
			ssize_t n = sb_udp_recvmsg(s, fd, m, f);
			if (n < 0) {
				if (i == 0)
					return (int)sb_result(n);
				break;
			}
			vmessages[i].msg_len = (unsigned)n;
			continue; /* a zero-length datagram is a datagram: go on */
		}
		ssize_t n = sb_sock_recvv(s, m->msg_iov, (int)m->msg_iovlen, f, &mflags);
		if (n < 0) {
			if (i == 0)
				return (int)sb_result(n);
			break;
		}
		m->msg_namelen = 0;
		m->msg_controllen = 0;
		m->msg_flags = mflags;
		vmessages[i].msg_len = (unsigned)n;
		if (n == 0)
			break;
	}
	return (int)i;
}

ssize_t sb_read(int fd, void *buf, size_t nbytes)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_read(fd, buf, nbytes);
	struct iovec v = { buf, nbytes };
	if (s->udp != NULL)
		return sb_result(sb_dgram_recv(s, fd, &v, 1, NULL, NULL, 0));
	return sb_result(sb_sock_recvv(s, &v, 1, 0, NULL));
}

ssize_t sb_write(int fd, const void *buf, size_t n)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_write(fd, buf, n);
	struct iovec v = { (void *)buf, n };
	if (s->udp != NULL)
		return sb_result(sb_dgram_send(s, fd, &v, 1, NULL, 0, 0));
	return sb_result(sb_sock_sendv(s, &v, 1, 0));
}

ssize_t sb_readv(int fd, const struct iovec *iovec, int count)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_readv(fd, iovec, count);
	if (count < 0 || count > IOV_MAX)
		return sb_result(-EINVAL);
	if (s->udp != NULL)
		return sb_result(sb_dgram_recv(s, fd, iovec, (size_t)count, NULL, NULL, 0));
	return sb_result(sb_sock_recvv(s, iovec, count, 0, NULL));
}

ssize_t sb_writev(int fd, const struct iovec *iovec, int count)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_writev(fd, iovec, count);
	if (count < 0 || count > IOV_MAX)
		return sb_result(-EINVAL);
	if (s->udp != NULL)
		return sb_result(sb_dgram_send(s, fd, iovec, (size_t)count, NULL, 0, 0));
	return sb_result(sb_sock_sendv(s, iovec, count, 0));
}

/* Copies up to `count` bytes from a file (or pipe) into a socket through a buffer: the copy sendfile saves the kernel. */
static ssize_t sb_copy_into(struct sb_sock *s, int in_fd, off_t *offset, size_t count)
{
	enum { CHUNK = 65536 };
	unsigned char *buf = malloc(CHUNK);
	if (buf == NULL)
		return -ENOMEM;
	size_t done = 0;
	ssize_t rc = 0;
	while (done < count) {
		size_t want = count - done < CHUNK ? count - done : CHUNK;
		ssize_t got = offset != NULL ? pread(in_fd, buf, want, *offset) : libc_read(in_fd, buf, want);
		if (got < 0) {
			rc = -errno;
			break;
		}
		if (got == 0)
			break;
		struct iovec v = { buf, (size_t)got };
		/* After some bytes went, never block again: return what was done (like sendfile). */
		ssize_t sent = sb_sock_sendv(s, &v, 1, done > 0 ? MSG_DONTWAIT : 0);
		if (sent < 0) {
			rc = sent;
			break;
		}
		if (offset != NULL)
			*offset += sent;
		else if (sent < got)
			lseek(in_fd, sent - got, SEEK_CUR); /* give back what did not fit (files; pipes cannot, and do not get here with a partial send unless non-blocking) */
		done += (size_t)sent;
		if (sent < got)
			break;
	}
	free(buf);
	return done > 0 ? (ssize_t)done : rc;
}

ssize_t sb_sendfile(int out_fd, int in_fd, off_t *offset, size_t count)
{
	struct sb_sock *s = sb_sock_get(out_fd);
	if (s == NULL)
		return libc_sendfile(out_fd, in_fd, offset, count);
	if (s->udp != NULL)
		return sb_result(-EINVAL); /* not carried for datagram sockets (docs/compatibility.md) */
	return sb_result(sb_copy_into(s, in_fd, offset, count));
}

ssize_t sb_splice(int fdin, off64_t *offin, int fdout, off64_t *offout, size_t len, unsigned int flags)
{
	struct sb_sock *out = sb_sock_get(fdout);
	struct sb_sock *in = sb_sock_get(fdin);
	if (out == NULL && in == NULL)
		return libc_splice(fdin, offin, fdout, offout, len, flags);
	if ((out != NULL && out->udp != NULL) || (in != NULL && in->udp != NULL))
		return sb_result(-EINVAL); /* not carried for datagram sockets (docs/compatibility.md) */
	if (out != NULL) {
		if (offout != NULL)
			return sb_result(-ESPIPE);
		off_t off = offin != NULL ? (off_t)*offin : 0;
		ssize_t rc = sb_copy_into(out, fdin, offin != NULL ? &off : NULL, len);
		if (offin != NULL && rc > 0)
			*offin = off;
		return sb_result(rc);
	}
	/* From a socket into a pipe (or file): look first, write, then take exactly what was written. */
	if (offin != NULL)
		return sb_result(-ESPIPE);
	unsigned char buf[65536];
	struct iovec v = { buf, len < sizeof buf ? len : sizeof buf };
	int nb = (flags & SPLICE_F_NONBLOCK) ? MSG_DONTWAIT : 0;
	ssize_t got = sb_sock_recvv(in, &v, 1, MSG_PEEK | nb, NULL);
	if (got <= 0)
		return sb_result(got);
	ssize_t put = offout != NULL ? pwrite(fdout, buf, (size_t)got, *offout) : libc_write(fdout, buf, (size_t)got);
	if (put <= 0)
		return put;
	struct iovec take = { buf, (size_t)put };
	ssize_t taken = sb_sock_recvv(in, &take, 1, MSG_DONTWAIT, NULL);
	if (taken != put)
		return sb_result(taken < 0 ? taken : -EIO);
	if (offout != NULL)
		*offout += put;
	return put;
}
