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

/*
 * One system call straight to the kernel: the result or -errno, errno untouched.
 * Not through glibc's syscall(): the shim exports its own (libuv makes socket
 * calls through it, runtime_syscall.c), which would route a doorbell's send()
 * back into the socket layer.
 */
static inline long sb_raw_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6)
{
#if defined(__x86_64__)
	register long r10 __asm__("r10") = a4;
	register long r8 __asm__("r8") = a5;
	register long r9 __asm__("r9") = a6;
	long ret;
	__asm__ __volatile__("syscall"
			     : "=a"(ret)
			     : "a"(nr), "D"(a1), "S"(a2), "d"(a3), "r"(r10), "r"(r8), "r"(r9)
			     : "rcx", "r11", "memory");
	return ret;
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr;
	register long x0 __asm__("x0") = a1;
	register long x1 __asm__("x1") = a2;
	register long x2 __asm__("x2") = a3;
	register long x3 __asm__("x3") = a4;
	register long x4 __asm__("x4") = a5;
	register long x5 __asm__("x5") = a6;
	__asm__ __volatile__("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	return x0;
#else
	int saved = errno;
	long rc = syscall(nr, a1, a2, a3, a4, a5, a6);
	if (rc < 0)
		rc = -errno;
	errno = saved;
	return rc;
#endif
}

static inline long sb_sys_send(int fd, const void *buf, size_t len, int flags)
{
	return sb_raw_syscall(SYS_sendto, (long)(fd), (long)(buf), (long)(len), (long)(flags), (long)(NULL), (long)(0));
}

static inline long sb_sys_recv(int fd, void *buf, size_t len, int flags)
{
	return sb_raw_syscall(SYS_recvfrom, (long)(fd), (long)(buf), (long)(len), (long)(flags), (long)(NULL), (long)(NULL));
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
	return sb_raw_syscall(SYS_ppoll, (long)(fds), (long)(n), (long)(t), (long)(mask), (long)(mask != NULL ? (size_t)(_NSIG / 8) : (size_t)0), 0);
}

static inline long sb_sys_write(int fd, const void *buf, size_t len)
{
	return sb_raw_syscall(SYS_write, (long)(fd), (long)(buf), (long)(len), 0, 0, 0);
}

static inline long sb_sys_read(int fd, void *buf, size_t len)
{
	return sb_raw_syscall(SYS_read, (long)(fd), (long)(buf), (long)(len), 0, 0, 0);
}

static inline long sb_sys_fcntl(int fd, int cmd, long arg)
{
	return sb_raw_syscall(SYS_fcntl, (long)(fd), (long)(cmd), (long)(arg), 0, 0, 0);
}

static inline long sb_sys_close(int fd)
{
	return sb_raw_syscall(SYS_close, (long)(fd), 0, 0, 0, 0, 0);
}

static inline long sb_sys_socketpair(int domain, int type, int protocol, int sv[2])
{
	return sb_raw_syscall(SYS_socketpair, (long)(domain), (long)(type), (long)(protocol), (long)(sv), 0, 0);
}

#endif
