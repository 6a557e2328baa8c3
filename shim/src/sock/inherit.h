/*
 * Sockets across exec (sock/inherit.c): the environment a new image needs
 * to find its circuits again, and (in a constructor) the claims that do it.
 *
 * The exec wrappers build the environment on their own stack (an exec may
 * follow vfork, where the heap is the parent's):
 *
 *	struct sb_env_need need = sb_inherit_env_need(envp);
 *	if (need.entries > 0) {
 *		char *slots[need.entries], text[need.bytes];
 *		envp = sb_inherit_env_build(envp, slots, text, sizeof text);
 *	}
 */
#ifndef SB_SOCK_INHERIT_H
#define SB_SOCK_INHERIT_H

#include <stddef.h>

#include "sock.h"

#define SB_INHERIT_MAX 256
#define SB_INHERIT_LIST_BYTES (SB_INHERIT_MAX * 7 + 32)

struct sb_env_need {
	size_t entries; /* 0: pass envp on as it is (not under an operator) */
	size_t bytes;
};

struct sb_env_need sb_inherit_env_need(char *const *envp);

/* envp plus $SWITCHBOARD_INHERIT (our sockets open across exec) and, if envp
 * has neither, LD_PRELOAD with the shim and $SWITCHBOARD_SOCKET. */
char **sb_inherit_env_build(char *const *envp, char **slots, char *text, size_t cap);

/*
 * SCM_RIGHTS: after a sendmsg on a socket that is not ours, our sockets among
 * the fds sent are held by another process too (shared); after a recvmsg,
 * each received fd that is a Unix socket is shown to the operator
 * (it may be a circuit endpoint or a port fd) and becomes our socket if so.
 */
struct msghdr;
void sb_inherit_sent_rights(const struct msghdr *m);
void sb_inherit_received_rights(const struct msghdr *m);

#endif
