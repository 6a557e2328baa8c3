/*
 * Sockets across exec: the new image learns them back from the operator.
 *
 * exec keeps the fds but wipes the shim's table, so the exec family (and
 * posix_spawn) passes the numbers of our sockets that survive exec in
 * $SWITCHBOARD_INHERIT, and puts back LD_PRELOAD and $SWITCHBOARD_SOCKET if
 * the program built its children's environment afresh without both (a
 * daemon that cleans it would otherwise cut them off the circuit network;
 * removing LD_PRELOAD alone still runs a child without the shim).
 * The new image, before main(), shows each listed fd to the operator
 * (`claim`: the fd is the capability) and rebuilds the socket from the
 * answer: a circuit endpoint becomes a connected socket with the circuit
 * mapped again, a port fd a bound or listening socket.
 *
 * What does not cross: the socket options the shim stores (they start from
 * Linux's defaults again) and a shutdown(SHUT_RD) of ours (SHUT_WR does: it
 * is in the circuit).  docs/compatibility.md.
 */
#include "inherit.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "addr.h"
#include "circuit/internal.h"
#include "control.h"
#include "debug.h"
#include "sb_libc.h"
#include "udp/udp.h"

#define SB_INHERIT_ENV "SWITCHBOARD_INHERIT"

/* The shim's own variables as they were when it started (the program may change its environment). */
static char *sb_preload_entry;  /* "LD_PRELOAD=…" with our library first */
static char *sb_socket_entry;   /* "SWITCHBOARD_SOCKET=…" */

/* ---- before exec ---- */

static bool sb_env_has(char *const *envp, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; envp != NULL && envp[i] != NULL; i++)
		if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
			return true;
	return false;
}

/* Writes "SWITCHBOARD_INHERIT=fd,fd,…" into buf (our sockets that stay open across exec); their count. */
static unsigned sb_inherit_list(char *buf, size_t cap)
{
	int len = snprintf(buf, cap, "%s=", SB_INHERIT_ENV);
	unsigned count = 0;
	for (int fd = 0; fd < 65536 && count < SB_INHERIT_MAX; fd++) {
		struct sb_sock *s = sb_sock_get(fd);
		if (s == NULL || (s->type != SOCK_STREAM && s->type != SOCK_DGRAM))
			continue;
		int flags = libc_fcntl(fd, F_GETFD, NULL);
		if (flags < 0 || (flags & FD_CLOEXEC))
			continue;
		len += snprintf(buf + len, cap - (size_t)len, "%s%d", count ? "," : "", fd);
		count++;
	}
	return count;
}

struct sb_env_need sb_inherit_env_need(char *const *envp)
{
	struct sb_env_need need = { 0, 0 };
	if (sb_socket_entry == NULL)
		return need; /* not under an operator: nothing to pass on */
	size_t n = 0, preload = 0;
	while (envp != NULL && envp[n] != NULL) {
		if (strncmp(envp[n], "LD_PRELOAD=", 11) == 0 && preload == 0)
			preload = strlen(envp[n]);
		n++;
	}
	Dl_info self;
	size_t lib = dladdr((void *)sb_inherit_env_need, &self) && self.dli_fname ? strlen(self.dli_fname) : 0;
	need.entries = n + 4;
	need.bytes = SB_INHERIT_LIST_BYTES + preload + lib + 2;
	return need;
}

char **sb_inherit_env_build(char *const *envp, char **out, char *text, size_t cap)
{
	Dl_info self;
	const char *lib = dladdr((void *)sb_inherit_env_build, &self) ? self.dli_fname : NULL;
	bool preload_seen = false;
	size_t k = 0;
	char *list = text;
	unsigned count = sb_inherit_list(list, SB_INHERIT_LIST_BYTES);
	char *more = text + SB_INHERIT_LIST_BYTES;
	size_t more_cap = cap - SB_INHERIT_LIST_BYTES;
	for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
		if (strncmp(envp[i], SB_INHERIT_ENV "=", sizeof SB_INHERIT_ENV) == 0)
			continue;
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0 && !preload_seen) {
			preload_seen = true;
			if (lib != NULL && strstr(envp[i] + 11, lib) == NULL) {
				/* Ours first, then what the program preloads itself. */
				snprintf(more, more_cap, "LD_PRELOAD=%s%s%s", lib, envp[i][11] ? " " : "", envp[i] + 11);
				out[k++] = more;
				continue;
			}
		}
		out[k++] = envp[i];
	}
	if (count > 0)
		out[k++] = list;
	/*
	 * Only an environment built afresh (neither variable: sshd's session,
	 * env -i) gets the shim back; removing LD_PRELOAD alone is how a user
	 * runs a child off the circuit network (docs/compatibility.md).
	 */
	if (!preload_seen && !sb_env_has(envp, "SWITCHBOARD_SOCKET")) {
		if (sb_preload_entry != NULL)
			out[k++] = sb_preload_entry;
		out[k++] = sb_socket_entry;
	}
	out[k] = NULL;
	return out;
}

/* ---- after exec ---- */

static struct sb_sock *sb_claimed_circuit(int fd, struct sb_control_reply *r)
{
	const struct sb_proto_claim_circuit *m = &r->msg.as.claim_circuit;
	int memfd = r->fds[SB_PROTO_CLAIM_CIRCUIT_FD_MEMFD];
	struct sb_sock *s = NULL;
	if (m->socket_type != SB_PROTO_SOCKET_TYPE_STREAM)
		goto out;
	int domain = m->local.family == SB_PROTO_AF_INET6 ? AF_INET6 : AF_INET;
	int fl = libc_fcntl(fd, F_GETFL, NULL);
	s = sb_sock_new(domain, SOCK_STREAM, fl >= 0 && (fl & O_NONBLOCK));
	struct sb_circuit *c = calloc(1, sizeof *c);
	if (s == NULL || c == NULL ||
	    sb_circuit_attach(c, memfd, fd, m->role == SB_PROTO_ROLE_CONNECTOR ? SB_ROLE_CONNECTOR : SB_ROLE_ACCEPTOR) < 0) {
		free(c);
		if (s != NULL)
			sb_sock_free(s);
		s = NULL;
		goto out;
	}
	s->circuit = c;
	s->circuit_id = m->circuit;
	s->local_len = sb_addr_from_proto(domain, &m->local, &s->local);
	s->peer_len = sb_addr_from_proto(domain, &m->peer, &s->peer);
	s->port_held = true;
	s->state = SB_STREAM_S_CONNECTED;
	/* A FIN we sent before exec is in the circuit: we are shut for writing. */
	if (atomic_load_explicit(&c->tx.ctl->prod_state, memory_order_acquire) & SB_PROD_FIN) {
		atomic_store_explicit(&c->shut_wr, true, memory_order_relaxed);
		s->state = SB_STREAM_S_WR_SHUT;
	}
	s->shared = true; /* the process that exec'd may have forked first: only the kernel knows the last holder */
	sb_circuit_fdtab_register(fd, c);
out:
	libc_close(memfd);
	return s;
}

static struct sb_sock *sb_claimed_port(int fd, const struct sb_proto_claim_port *m)
{
	if (m->socket_type == SB_PROTO_SOCKET_TYPE_DGRAM)
		return sb_udp_claimed(fd, m);
	if (m->socket_type != SB_PROTO_SOCKET_TYPE_STREAM)
		return NULL;
	int domain = m->address.family == SB_PROTO_AF_INET6 ? AF_INET6 : AF_INET;
	int fl = libc_fcntl(fd, F_GETFL, NULL);
	struct sb_sock *s = sb_sock_new(domain, SOCK_STREAM, fl >= 0 && (fl & O_NONBLOCK));
	if (s == NULL)
		return NULL;
	s->local_len = sb_addr_from_proto(domain, &m->address, &s->local);
	s->reservation = m->reservation;
	s->port_held = true;
	s->addr_locked = true;
	s->memory[SB_STREAM_F_BIND_LOCKED] = 1;
	s->opts.reuseaddr = (m->options & SB_PROTO_BIND_OPTIONS_REUSE_ADDR) != 0;
	s->opts.reuseport = (m->options & SB_PROTO_BIND_OPTIONS_REUSE_PORT) != 0;
	s->opts.v6only = (m->options & SB_PROTO_BIND_OPTIONS_V6ONLY) != 0;
	s->state = m->listening ? SB_STREAM_S_LISTENING : SB_STREAM_S_BOUND;
	s->backlog = m->backlog;
	s->shared = true;
	return s;
}

/* Asks the operator what fd is; registers the socket (or leaves the fd alone). */
static void sb_claim(int fd, const char *how)
{
	struct stat st;
	if (sb_sock_get(fd) != NULL || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode))
		return;
	/* Another listed fd of the same socket (dup2 onto 0 and 1): one socket, two fds. */
	for (int other = 0; other < fd; other++) {
		struct sb_sock *s = sb_sock_get(other);
		struct stat ost;
		if (s != NULL && fstat(other, &ost) == 0 && ost.st_ino == st.st_ino && ost.st_dev == st.st_dev) {
			sb_sock_put(fd, s);
			return;
		}
	}
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_CLAIM };
	struct sb_control_reply r;
	if (sb_control_request(&req, &fd, 1, &r, false) < 0)
		return;
	struct sb_sock *s = NULL;
	if (r.msg.type == SB_PROTO_MSG_CLAIM_CIRCUIT) {
		s = sb_claimed_circuit(fd, &r);
	} else {
		if (r.msg.type == SB_PROTO_MSG_CLAIM_PORT)
			s = sb_claimed_port(fd, &r.msg.as.claim_port);
		sb_control_drop_fds(&r);
	}
	if (s != NULL && sb_sock_put(fd, s) < 0)
		sb_sock_free(s);
	sb_debug("fd %d %s: %s", fd, how, s != NULL ? "claimed" : "not ours");
}

__attribute__((constructor)) static void sb_inherit_init(void)
{
	int saved = errno;
	const char *preload = getenv("LD_PRELOAD");
	const char *sock = getenv("SWITCHBOARD_SOCKET");
	if (sock != NULL && sock[0] != '\0') {
		size_t n = strlen(sock) + sizeof "SWITCHBOARD_SOCKET=";
		if ((sb_socket_entry = malloc(n)) != NULL)
			snprintf(sb_socket_entry, n, "SWITCHBOARD_SOCKET=%s", sock);
		Dl_info self;
		if (dladdr((void *)sb_inherit_init, &self) && self.dli_fname != NULL) {
			n = strlen(self.dli_fname) + (preload ? strlen(preload) : 0) + sizeof "LD_PRELOAD= ";
			bool listed = preload != NULL && strstr(preload, self.dli_fname) != NULL;
			if ((sb_preload_entry = malloc(n)) != NULL)
				snprintf(sb_preload_entry, n, "LD_PRELOAD=%s%s%s", listed ? "" : self.dli_fname,
					 !listed && preload && *preload ? " " : "", preload ? preload : "");
		}
	}
	const char *list = getenv(SB_INHERIT_ENV);
	if (list != NULL) {
		char copy[SB_INHERIT_MAX * 8];
		snprintf(copy, sizeof copy, "%s", list);
		unsetenv(SB_INHERIT_ENV); /* ours to read once: the program's own children get a fresh list */
		if (sb_control_enabled()) {
			char *save = NULL;
			for (char *t = strtok_r(copy, ",", &save); t != NULL; t = strtok_r(NULL, ",", &save)) {
				char *end;
				long fd = strtol(t, &end, 10);
				if (*end == '\0' && fd >= 0 && fd < 65536)
					sb_claim((int)fd, "inherited across exec");
			}
		}
	}
	errno = saved;
}

/* ---- SCM_RIGHTS ---- */

static void sb_sent_right(int fd, void *ctx)
{
	(void)ctx;
	struct sb_sock *s = sb_sock_get(fd);
	if (s != NULL)
		s->shared = true;
}

static void sb_received_right(int fd, void *ctx)
{
	(void)ctx;
	int domain = 0;
	socklen_t len = sizeof domain;
	/* Endpoints and port fds are Unix sockets: nothing else costs a question. */
	if (libc_getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_UNIX)
		sb_claim(fd, "received with SCM_RIGHTS");
}

void sb_inherit_sent_rights(const struct msghdr *m)
{
	sb_each_right(m, sb_sent_right, NULL);
}

void sb_inherit_received_rights(const struct msghdr *m)
{
	if (sb_control_enabled())
		sb_each_right(m, sb_received_right, NULL);
}
