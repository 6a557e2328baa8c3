/*
 * Runtime entry points for process: fork, vfork, exec, posix_spawn, daemon.
 *
 * Each sb_<name>() is what the exported <name>() (generated, build/gen/c/sb_interpose.c)
 * calls.  fork needs nothing here (sock.c's atfork handler marks every
 * socket shared); the exec family and posix_spawn pass the shim's sockets
 * on to the new image (sock/inherit.c); the rest passes straight through
 * to glibc via libc_<name>() (docs/libc-surface.md).  Prototypes come from the generated sb_libc.h, so a
 * signature that drifts from specs/libc.ts fails to compile, and a missing
 * entry fails to link (-z defs).
 */
#include <sys/prctl.h>
#include <unistd.h>

#include "circuit/circuit.h"
#include "sb_libc.h"
#include "sock/inherit.h"

/* Runs `call` with `envp` replaced by the environment the new image needs (built on this stack). */
#define SB_WITH_ENV(envp, call)                                                  \
	do {                                                                     \
		struct sb_env_need need_ = sb_inherit_env_need(envp);            \
		if (need_.entries == 0)                                          \
			return call;                                             \
		char *slots_[need_.entries];                                     \
		char text_[need_.bytes];                                         \
		envp = sb_inherit_env_build(envp, slots_, text_, sizeof text_);  \
		return call;                                                     \
	} while (0)

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
    SB_WITH_ENV(envp, libc_execve(path, argv, envp));
}

int sb_execv(const char *path, char *const *argv)
{
    char *const *envp = environ;
    SB_WITH_ENV(envp, libc_execve(path, argv, envp));
}

int sb_execvp(const char *file, char *const *argv)
{
    char *const *envp = environ;
    SB_WITH_ENV(envp, libc_execvpe(file, argv, envp));
}

int sb_execvpe(const char *file, char *const *argv, char *const *envp)
{
    SB_WITH_ENV(envp, libc_execvpe(file, argv, envp));
}

int sb_execveat(int dirfd, const char *path, char *const *argv, char *const *envp, int flags)
{
    SB_WITH_ENV(envp, libc_execveat(dirfd, path, argv, envp, flags));
}

int sb_fexecve(int fd, char *const *argv, char *const *envp)
{
    SB_WITH_ENV(envp, libc_fexecve(fd, argv, envp));
}

int sb_posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp, char *const *argv, char *const *envp)
{
    SB_WITH_ENV(envp, libc_posix_spawn(pid, path, file_actions, attrp, argv, envp));
}

int sb_posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *file_actions, const posix_spawnattr_t *attrp, char *const *argv, char *const *envp)
{
    SB_WITH_ENV(envp, libc_posix_spawnp(pid, file, file_actions, attrp, argv, envp));
}

int sb_prctl(int option, unsigned long arg1, unsigned long arg2, unsigned long arg3, unsigned long arg4)
{
	/* Before the filter is in place: afterwards, a forbidden call would kill the process. */
	if (option == PR_SET_SECCOMP)
		sb_circuit_restrict_syscalls();
	return libc_prctl(option, arg1, arg2, arg3, arg4);
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
    sb_vfork_begin(); /* the child borrows our memory: it must not change the shim's tables */
    return libc_vfork_address();
}
