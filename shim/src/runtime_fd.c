/*
 * Runtime entry points for fd management: close, dup, fcntl, ioctl.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  Today every one passes straight through to glibc via libc_<name>();
 * circuit handling replaces a body here, without touching generated code
 * (docs/libc-surface.md).  Prototypes come from the generated sb_libc.h, so a
 * signature that drifts from specs/libc.ts fails to compile, and a missing
 * entry fails to link (-z defs).
 */
#include <errno.h>
#include <stdlib.h>

#include "circuit/fdtab.h"
#include "sb_libc.h"

/*
 * A registered circuit is closed first (FIN, or reset when received bytes are
 * left unread: circuit/state.c), then the kernel fd, which the peer sees hang
 * up.  Until dup/fork/close_range know about circuits (a later issue), the
 * circuit belongs to the fd number it was registered under.
 */
int sb_close(int fd)
{
    struct sb_circuit *c = sb_fdtab_take(fd);
    if (c != NULL) {
        int saved = errno;
        sb_circuit_close(c);
        sb_circuit_detach(c);
        free(c);
        errno = saved;
    }
    return libc_close(fd);
}

int sb_close_range(unsigned int fd, unsigned int max_fd, int flags)
{
    return libc_close_range(fd, max_fd, flags);
}

int sb_dup(int fd)
{
    return libc_dup(fd);
}

int sb_dup2(int fd, int fd2)
{
    return libc_dup2(fd, fd2);
}

int sb_dup3(int fd, int fd2, int flags)
{
    return libc_dup3(fd, fd2, flags);
}

int sb_fcntl(int fd, int cmd, void *arg)
{
    return libc_fcntl(fd, cmd, arg);
}

int sb_ioctl(int fd, unsigned long request, void *arg)
{
    return libc_ioctl(fd, request, arg);
}
