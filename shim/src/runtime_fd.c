/*
 * Runtime entry points for fd management: close, close_range, dup, fcntl, ioctl.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  The kernel does the fd work itself (the shim's sockets are real
 * kernel fds); the shim keeps its table in step: a dup refers to the same
 * socket, the last close of a socket in the process ends it (sock/setup.c).
 * Prototypes come from the generated sb_libc.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdint.h>
#include <stdlib.h>

#include "circuit/fdtab.h"
#include "sb_libc.h"
#include "sock/epoll.h"
#include "sock/options.h"
#include "sock/result.h"
#include "sock/setup.h"

/* A circuit made by sb_circuit_socketpair (tests, benchmarks) closes with its fd. */
static void sb_close_bare_circuit(int fd)
{
	struct sb_circuit *c = sb_fdtab_take(fd);
	if (c != NULL) {
		int saved = errno;
		sb_circuit_close(c);
		sb_circuit_detach(c);
		free(c);
		errno = saved;
	}
}

int sb_close(int fd)
{
	if (sb_in_vfork_child())
		return libc_close(fd);
	sb_epoll_fd_closing(fd);
	if (sb_sock_get(fd) != NULL)
		return (int)sb_result(sb_sock_close(fd));
	sb_close_bare_circuit(fd);
	return libc_close(fd);
}

int sb_close_range(unsigned int fd, unsigned int max_fd, int flags)
{
	if (sb_in_vfork_child())
		return libc_close_range(fd, max_fd, flags);
	if (!(flags & CLOSE_RANGE_CLOEXEC)) {
		/* Our sockets in the range end as with close(); the kernel closes the rest. */
		for (unsigned int i = fd; i <= max_fd && i < (1u << 20); i++) {
			sb_epoll_fd_closing((int)i);
			if (sb_sock_get((int)i) != NULL)
				sb_sock_close((int)i);
			else
				sb_close_bare_circuit((int)i);
			if (i == max_fd)
				break;
		}
	}
	return libc_close_range(fd, max_fd, flags);
}

/* After the kernel made newfd a copy of fd: newfd is the same socket. */
static int sb_dup_done(int fd, int newfd)
{
	if (newfd < 0)
		return newfd;
	struct sb_sock *s = sb_sock_get(fd);
	if (s != NULL && sb_sock_put(newfd, s) < 0) {
		libc_close(newfd);
		errno = ENOMEM;
		return -1;
	}
	return newfd;
}

int sb_dup(int fd)
{
	if (sb_in_vfork_child())
		return libc_dup(fd);
	return sb_dup_done(fd, libc_dup(fd));
}

/* dup2/dup3 onto a number that was one of our sockets closed that socket, as close() would have. */
static void sb_dup_target(int fd, int fd2)
{
	if (fd2 != fd) {
		sb_epoll_fd_closing(fd2);
		sb_sock_dropped(fd2);
	}
}

int sb_dup2(int fd, int fd2)
{
	if (sb_in_vfork_child())
		return libc_dup2(fd, fd2);
	if (fd == fd2)
		return libc_dup2(fd, fd2);
	int rc = libc_dup2(fd, fd2);
	if (rc < 0)
		return rc;
	sb_dup_target(fd, fd2);
	return sb_dup_done(fd, rc);
}

int sb_dup3(int fd, int fd2, int flags)
{
	if (sb_in_vfork_child())
		return libc_dup3(fd, fd2, flags);
	int rc = libc_dup3(fd, fd2, flags);
	if (rc < 0)
		return rc;
	sb_dup_target(fd, fd2);
	return sb_dup_done(fd, rc);
}

int sb_fcntl(int fd, int cmd, void *arg)
{
	if (sb_in_vfork_child())
		return libc_fcntl(fd, cmd, arg);
	struct sb_sock *s = sb_sock_get(fd);
	int rc = libc_fcntl(fd, cmd, arg);
	if (s == NULL || rc < 0)
		return rc;
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		return sb_dup_done(fd, rc);
	case F_SETFL:
		s->nonblock = ((int)(intptr_t)arg & O_NONBLOCK) != 0;
		return rc;
	default:
		return rc;
	}
}

int sb_ioctl(int fd, unsigned long request, void *arg)
{
	struct sb_sock *s = sb_sock_get(fd);
	if (s == NULL)
		return libc_ioctl(fd, request, arg);
	return (int)sb_result(sb_sock_ioctl(s, fd, request, arg));
}
