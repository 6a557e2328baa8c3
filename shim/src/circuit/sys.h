/*
 * The kernel calls the circuit code makes, as raw system calls.
 *
 * Inside libswitchboard.so, a call to send(), recv(), ppoll(), fcntl(),
 * close() or socketpair() would bind to the shim's own exported wrapper, which
 * will soon treat circuit fds specially — and the endpoint fd *is* a circuit
 * fd, so ringing a doorbell with send() would recurse into the circuit.  The
 * circuit library therefore talks to the kernel directly, and the same code
 * works linked into the shim, the benchmark or the operator's addon.
 *
 * Each returns the result or -errno, and leaves errno as it was: circuit calls
 * report errors only through their return value.
 */
#ifndef SB_CIRCUIT_SYS_H
#define SB_CIRCUIT_SYS_H

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* syscall() returned rc (-1 and errno on failure): turn that into -errno and put errno back. */
static inline long sb_sys_ret(long rc, int saved_errno)
{
	if (rc < 0)
		rc = -errno;
	errno = saved_errno;
	return rc;
}

static inline long sb_sys_send(int fd, const void *buf, size_t len, int flags)
{
	int saved = errno;
	return sb_sys_ret(syscall(SYS_sendto, fd, buf, len, flags, NULL, 0), saved);
}

static inline long sb_sys_recv(int fd, void *buf, size_t len, int flags)
{
	int saved = errno;
	return sb_sys_ret(syscall(SYS_recvfrom, fd, buf, len, flags, NULL, NULL), saved);
}

/* ppoll with the kernel's sigset size (glibc's sigset_t is larger; the kernel reads the first _NSIG/8 bytes). */
static inline long sb_sys_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *timeout, const sigset_t *mask)
{
	struct timespec copy; /* the kernel writes the remaining time back */
	struct timespec *t = NULL;
	if (timeout != NULL) {
		copy = *timeout;
		t = &copy;
	}
	int saved = errno;
	return sb_sys_ret(syscall(SYS_ppoll, fds, n, t, mask, mask != NULL ? (size_t)(_NSIG / 8) : (size_t)0), saved);
}

static inline long sb_sys_write(int fd, const void *buf, size_t len)
{
	int saved = errno;
	return sb_sys_ret(syscall(SYS_write, fd, buf, len), saved);
}

static inline long sb_sys_read(int fd, void *buf, size_t len)
{
	int saved = errno;
	return sb_sys_ret(syscall(SYS_read, fd, buf, len), saved);
}

static inline long sb_sys_fcntl(int fd, int cmd, long arg)
{
	int saved = errno;
	return sb_sys_ret(syscall(SYS_fcntl, fd, cmd, arg), saved);
}

static inline long sb_sys_close(int fd)
{
	int saved = errno;
	return sb_sys_ret(syscall(SYS_close, fd), saved);
}

static inline long sb_sys_socketpair(int domain, int type, int protocol, int sv[2])
{
	int saved = errno;
	return sb_sys_ret(syscall(SYS_socketpair, domain, type, protocol, sv), saved);
}

#endif
