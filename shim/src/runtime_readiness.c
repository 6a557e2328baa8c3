/*
 * Runtime entry points for readiness: poll, select, epoll.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  A call that involves one of the shim's sockets goes to sock/poll.c
 * or sock/epoll.c; everything else passes straight through to glibc via
 * libc_<name>() (docs/libc-surface.md).  Prototypes come from the generated sb_libc.h, so a
 * signature that drifts from specs/libc.ts fails to compile, and a missing
 * entry fails to link (-z defs).
 */
#include <errno.h>
#include <sys/time.h>

#include "sb_libc.h"
#include "sock/epoll.h"
#include "sock/readiness.h"
#include "sock/result.h"

static int64_t sb_ms_to_ns(int ms)
{
	return ms < 0 ? -1 : (int64_t)ms * 1000000;
}

static int64_t sb_ts_to_ns(const struct timespec *ts)
{
	return ts == NULL ? -1 : (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

int sb_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	if (!sb_poll_has_socket(fds, nfds))
		return libc_poll(fds, nfds, timeout);
	return (int)sb_result(sb_poll_sockets(fds, nfds, sb_ms_to_ns(timeout), NULL));
}

int sb_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *ss)
{
	if (!sb_poll_has_socket(fds, nfds))
		return libc_ppoll(fds, nfds, timeout, ss);
	if (timeout != NULL && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))
		return (int)sb_result(-EINVAL);
	return (int)sb_result(sb_poll_sockets(fds, nfds, sb_ts_to_ns(timeout), ss));
}

int sb_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, struct timeval *timeout)
{
	if (!sb_select_has_socket(nfds, readfds, writefds, exceptfds))
		return libc_select(nfds, readfds, writefds, exceptfds, timeout);
	if (timeout != NULL && (timeout->tv_sec < 0 || timeout->tv_usec < 0))
		return (int)sb_result(-EINVAL);
	int64_t ns = timeout == NULL ? -1 : (int64_t)timeout->tv_sec * 1000000000 + (int64_t)timeout->tv_usec * 1000;
	int rc = sb_select_sockets(nfds, readfds, writefds, exceptfds, ns, NULL);
	if (rc >= 0 && timeout != NULL && rc == 0)
		timeout->tv_sec = timeout->tv_usec = 0; /* Linux writes the time left back */
	return (int)sb_result(rc);
}

int sb_pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, const struct timespec *timeout, const sigset_t *sigmask)
{
	if (!sb_select_has_socket(nfds, readfds, writefds, exceptfds))
		return libc_pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask);
	return (int)sb_result(sb_select_sockets(nfds, readfds, writefds, exceptfds, sb_ts_to_ns(timeout), sigmask));
}

int sb_epoll_create(int size)
{
	int fd = libc_epoll_create(size);
	sb_epoll_created(fd);
	return fd;
}

int sb_epoll_create1(int flags)
{
	int fd = libc_epoll_create1(flags);
	sb_epoll_created(fd);
	return fd;
}

int sb_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
	/* Ours: our sockets, and epoll instances nested in another (they may hold our sockets, now or later). */
	if (sb_sock_get(fd) == NULL && !sb_epoll_is_epfd(fd))
		return libc_epoll_ctl(epfd, op, fd, event);
	return (int)sb_result(sb_epoll_ctl_socket(epfd, op, fd, event));
}

int sb_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
	if (!sb_epoll_knows_sockets(epfd))
		return libc_epoll_wait(epfd, events, maxevents, timeout);
	return (int)sb_result(sb_epoll_wait_sockets(epfd, events, maxevents, sb_ms_to_ns(timeout), NULL));
}

int sb_epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *ss)
{
	if (!sb_epoll_knows_sockets(epfd))
		return libc_epoll_pwait(epfd, events, maxevents, timeout, ss);
	return (int)sb_result(sb_epoll_wait_sockets(epfd, events, maxevents, sb_ms_to_ns(timeout), ss));
}

int sb_epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout, const sigset_t *ss)
{
	if (!sb_epoll_knows_sockets(epfd))
		return libc_epoll_pwait2(epfd, events, maxevents, timeout, ss);
	if (timeout != NULL && (timeout->tv_sec < 0 || timeout->tv_nsec < 0 || timeout->tv_nsec >= 1000000000))
		return (int)sb_result(-EINVAL);
	return (int)sb_result(sb_epoll_wait_sockets(epfd, events, maxevents, sb_ts_to_ns(timeout), ss));
}
