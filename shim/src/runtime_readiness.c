/*
 * Runtime entry points for readiness: poll, select, epoll.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  Today every one passes straight through to glibc via libc_<name>();
 * circuit handling replaces a body here, without touching generated code
 * (docs/libc-surface.md).  Prototypes come from the generated sb_libc.h, so a
 * signature that drifts from specs/libc.ts fails to compile, and a missing
 * entry fails to link (-z defs).
 */
#include "sb_libc.h"

int sb_poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
    return libc_poll(fds, nfds, timeout);
}

int sb_ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *ss)
{
    return libc_ppoll(fds, nfds, timeout, ss);
}

int sb_select(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, struct timeval *timeout)
{
    return libc_select(nfds, readfds, writefds, exceptfds, timeout);
}

int sb_pselect(int nfds, fd_set *readfds, fd_set *writefds, fd_set *exceptfds, const struct timespec *timeout, const sigset_t *sigmask)
{
    return libc_pselect(nfds, readfds, writefds, exceptfds, timeout, sigmask);
}

int sb_epoll_create(int size)
{
    return libc_epoll_create(size);
}

int sb_epoll_create1(int flags)
{
    return libc_epoll_create1(flags);
}

int sb_epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    return libc_epoll_ctl(epfd, op, fd, event);
}

int sb_epoll_wait(int epfd, struct epoll_event *events, int maxevents, int timeout)
{
    return libc_epoll_wait(epfd, events, maxevents, timeout);
}

int sb_epoll_pwait(int epfd, struct epoll_event *events, int maxevents, int timeout, const sigset_t *ss)
{
    return libc_epoll_pwait(epfd, events, maxevents, timeout, ss);
}

int sb_epoll_pwait2(int epfd, struct epoll_event *events, int maxevents, const struct timespec *timeout, const sigset_t *ss)
{
    return libc_epoll_pwait2(epfd, events, maxevents, timeout, ss);
}
