/*
 * Runtime entry points for process: fork, vfork, exec, posix_spawn, daemon.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  Today every one passes straight through to glibc via libc_<name>();
 * circuit handling replaces a body here, without touching generated code
 * (docs/libc-surface.md).  Prototypes come from the generated sb_libc.h, so a
 * signature that drifts from specs/libc.ts fails to compile, and a missing
 * entry fails to link (-z defs).
 */
#include "sb_libc.h"

pid_t sb_fork(void)
{
    return libc_fork();
}

pid_t sb__Fork(void)
{
    return libc__Fork();
}

int sb_execve(const char *path, char *const *argv, char *const *envp)
{
    return libc_execve(path, argv, envp);
}

int sb_execv(const char *path, char *const *argv)
{
    return libc_execv(path, argv);
}

int sb_execvp(const char *file, char *const *argv)
{
    return libc_execvp(file, argv);
}

int sb_execvpe(const char *file, char *const *argv, char *const *envp)
{
    return libc_execvpe(file, argv, envp);
}

int sb_execveat(int dirfd, const char *path, char *const *argv, char *const *envp, int flags)
{
    return libc_execveat(dirfd, path, argv, envp, flags);
}

int sb_fexecve(int fd, char *const *argv, char *const *envp)
{
    return libc_fexecve(fd, argv, envp);
}

int sb_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp, char *const *argv, char *const *envp)
{
    return libc_posix_spawn(pid, path, file_actions, attrp, argv, envp);
}

int sb_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp, char *const *argv, char *const *envp)
{
    return libc_posix_spawnp(pid, file, file_actions, attrp, argv, envp);
}

int sb_daemon(int nochdir, int noclose)
{
    return libc_daemon(nochdir, noclose);
}

/*
 * Where the exported vfork() stub jumps: it calls this in the parent, before
 * anything forks, so this may do ordinary C work but must return a function
 * that behaves like vfork (returns twice, child on the parent's stack).
 */
sb_vfork_fn *sb_vfork_target(void)
{
    return libc_vfork_address();
}
