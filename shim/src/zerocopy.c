/*
 * <switchboard/zerocopy.h>: the zero-copy API libswitchboard.so exports,
 * over the process's circuit fd table (circuit/fdtab.h).
 *
 * Non-blocking when the caller passes MSG_DONTWAIT or the fd has O_NONBLOCK.
 * The fast path makes no system call: the first attempt neither waits nor
 * probes the endpoint for the peer's death.  When it finds nothing to do and
 * the fd was blocking last time we looked, it spins for the answer (as the
 * blocking call would).  Only then are the fd's flags read (fcntl; the answer
 * is remembered as a hint for the next call), and the call is made again,
 * blocking, or non-blocking with the probe (so a dead peer reads as EOF or
 * ECONNRESET, not EAGAIN).
 *
 * No SIGPIPE: these calls report EPIPE through errno only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <switchboard/zerocopy.h>

#include "circuit/fdtab.h"
#include "circuit/internal.h"
#include "circuit/sys.h"

/* The exported API; everything else in the shim is hidden (and sb_libc.map lists these). */
#define SB_PUBLIC __attribute__((visibility("default")))

/* The flags these calls accept; MSG_NOSIGNAL is accepted and means nothing (they never raise SIGPIPE). */
#define SB_ZC_FLAGS (MSG_DONTWAIT | MSG_NOSIGNAL)

/* The stream circuit behind fd, or NULL with errno saying why not (zerocopy.h). */
static struct sb_circuit *sb_zc_circuit(int fd)
{
	struct sb_circuit *c = sb_fdtab_get(fd);
	if (c != NULL && c->mode == SB_CIRCUIT_STREAM)
		return c;
	struct stat st;
	if (c != NULL)
		errno = EOPNOTSUPP; /* a datagram circuit */
	else if (fstat(fd, &st) < 0)
		; /* errno from fstat: EBADF */
	else
		errno = S_ISSOCK(st.st_mode) ? EOPNOTSUPP : ENOTSOCK;
	return NULL;
}

static ssize_t sb_zc_result(ssize_t rc)
{
	if (rc >= 0)
		return rc;
	errno = (int)-rc;
	return -1;
}

/* How to call again after a first attempt found nothing to do: blocking, unless MSG_DONTWAIT or O_NONBLOCK. */
static unsigned sb_zc_retry_flags(struct sb_circuit *c, int fd, int flags)
{
	if (flags & MSG_DONTWAIT)
		return SB_NONBLOCK;
	long fl = sb_sys_fcntl(fd, F_GETFL, 0);
	bool nonblock = fl < 0 || (fl & O_NONBLOCK);
	atomic_store_explicit(&c->nonblock_hint, nonblock, memory_order_relaxed);
	return nonblock ? SB_NONBLOCK : 0;
}

/*
 * Before asking the kernel whether the fd blocks: if it did last time, spin
 * for the answer first.  Spinning is what a blocking call does next anyway,
 * and when the answer comes in time, the call needs no system call at all.
 * A stale hint costs one spin budget, after which fcntl sets it right.
 */
static bool sb_zc_spin_first(struct sb_circuit *c, enum sb_wait_dir dir, uint64_t need, int flags)
{
	return !(flags & MSG_DONTWAIT) && !atomic_load_explicit(&c->nonblock_hint, memory_order_relaxed) &&
	       sb_spin_for(c, dir, need);
}

SB_PUBLIC int sb_zc_is_circuit(int fd)
{
	return sb_zc_circuit(fd) != NULL;
}

SB_PUBLIC ssize_t sb_zc_send_reserve(int fd, size_t min, struct iovec iov[2], int *iovcnt, int flags)
{
	struct sb_circuit *c = sb_zc_circuit(fd);
	if (c == NULL)
		return -1;
	if ((flags & ~SB_ZC_FLAGS) || iov == NULL || iovcnt == NULL)
		return sb_zc_result(-EINVAL);
	ssize_t rc = sb_circuit_reserve(c, min, iov, iovcnt, SB_NONBLOCK | SB_NOPROBE, NULL);
	if (rc == -EAGAIN && sb_zc_spin_first(c, SB_WAIT_ROOM, min > 0 ? min : 1, flags))
		rc = sb_circuit_reserve(c, min, iov, iovcnt, SB_NONBLOCK | SB_NOPROBE, NULL);
	if (rc == -EAGAIN)
		rc = sb_circuit_reserve(c, min, iov, iovcnt, sb_zc_retry_flags(c, fd, flags), NULL);
	return sb_zc_result(rc);
}

SB_PUBLIC int sb_zc_send_commit(int fd, size_t len)
{
	struct sb_circuit *c = sb_zc_circuit(fd);
	if (c == NULL)
		return -1;
	return (int)sb_zc_result(sb_circuit_commit(c, len));
}

SB_PUBLIC ssize_t sb_zc_recv_peek(int fd, struct iovec iov[2], int *iovcnt, int flags)
{
	struct sb_circuit *c = sb_zc_circuit(fd);
	if (c == NULL)
		return -1;
	if ((flags & ~SB_ZC_FLAGS) || iov == NULL || iovcnt == NULL)
		return sb_zc_result(-EINVAL);
	ssize_t rc = sb_circuit_peek(c, iov, iovcnt, SB_NONBLOCK | SB_NOPROBE, NULL);
	if (rc == -EAGAIN && sb_zc_spin_first(c, SB_WAIT_DATA, 1, flags))
		rc = sb_circuit_peek(c, iov, iovcnt, SB_NONBLOCK | SB_NOPROBE, NULL);
	if (rc == -EAGAIN)
		rc = sb_circuit_peek(c, iov, iovcnt, sb_zc_retry_flags(c, fd, flags), NULL);
	return sb_zc_result(rc);
}

SB_PUBLIC int sb_zc_recv_release(int fd, size_t len)
{
	struct sb_circuit *c = sb_zc_circuit(fd);
	if (c == NULL)
		return -1;
	return (int)sb_zc_result(sb_circuit_release(c, len));
}
