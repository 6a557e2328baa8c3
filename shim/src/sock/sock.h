/*
 * A program's AF_INET/AF_INET6 socket, as the shim runs it over circuits.
 *
 * The program's fd is always a real kernel fd, whose kind follows the
 * socket's phase:
 *   fresh          a placeholder (an unconnected AF_UNIX socket)
 *   bound/listening the reservation's port fd from the operator (dup3'd over
 *                  the same number); incoming connections arrive on it, so
 *                  a pending connection makes the listening fd readable
 *   connected …    the circuit's endpoint fd (the doorbell; its hang-up tells
 *                  the peer we are gone, like a FIN or RST from the kernel)
 * so fd numbers, dup, fork, exec, close-on-exec and SCM_RIGHTS keep their
 * kernel meaning.  What the kernel would do with the socket is decided by the
 * generated state machine (specs/socket/stream.ts → sb_machine_stream): the
 * runtime computes the facts a rule asks about, takes the outcome, and does
 * the work (talk to the operator, move bytes through the circuit).
 *
 * One struct per socket per process: dup()s share it (refs); fork copies it.
 */
#ifndef SB_SOCK_H
#define SB_SOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "circuit/circuit.h"
#include "machine.h"
#include "sb_machine_stream.h"

/* Socket options the shim stores and reports back as Linux would. */
struct sb_sock_opts {
	bool reuseaddr, reuseport, keepalive, nodelay, cork, v6only, oobinline, broadcast;
	int rcvbuf, sndbuf;       /* as getsockopt reports them (Linux doubles what was set) */
	int rcvlowat;
	struct linger linger;
	int64_t rcvtimeo_ns, sndtimeo_ns; /* 0: none */
	int keepidle, keepintvl, keepcnt, user_timeout, maxseg, quickack, defer_accept;
	bool maxseg_set;          /* TCP_MAXSEG was set (else a connection shows loopback's MSS) */
};

struct sb_udp;

struct sb_sock {
	pthread_mutex_t lock;     /* state transitions and the operator calls that go with them */
	pthread_mutex_t send_lock, recv_lock; /* one sender and one receiver at a time (the rings are SPSC) */
	int domain, type;
	const struct sb_machine *machine;
	uint8_t state;
	uint8_t memory[SB_STREAM_NFACTS]; /* memory facts by fact index (conditions are computed) */
	bool nonblock;            /* O_NONBLOCK of the open file description, as the program set it */
	unsigned refs;            /* fds in this process that refer to this socket */

	struct sockaddr_storage local, peer;
	socklen_t local_len, peer_len;
	bool addr_locked;         /* bind() chose the address (SOCK_BINDADDR_LOCK) */
	bool port_held;           /* the operator still reserves the shown port for us */
	uint64_t reservation;     /* 0: none */
	int port_fd;              /* while connected: the reservation's port fd, kept out of sight; else -1 */
	unsigned backlog;

	struct sb_circuit *circuit; /* while connected (and after, until close) */
	uint64_t circuit_id;
	uint64_t bytes_sent, bytes_received;
	uint32_t seen_peer_state;   /* peer events already applied to the machine */
	uint64_t seen_arrived;      /* bytes from the peer already seen arriving (bytes_received + queued) */
	bool seen_peer_gone;

	/* connecting (a listener's queue was full): where to, and the fd connect() was called on */
	struct sockaddr_storage pending_dest;
	int pending_fd;

	struct sb_sock_opts opts;
	struct sb_udp *udp;       /* SOCK_DGRAM: its flows (udp/flows.h); NULL for streams */
	bool shared;              /* another process may hold it too (fork, SCM_RIGHTS): closing ours ends nothing */
};

/* The socket behind fd, or NULL (a file, pipe, AF_UNIX socket…, or a socket the shim left to the kernel). */
struct sb_sock *sb_sock_get(int fd);
/* Registers s for fd (s->refs counts it). 0 or -errno. */
int sb_sock_put(int fd, struct sb_sock *s);
/* Unregisters fd; returns its socket (refs already decremented) or NULL. */
struct sb_sock *sb_sock_take(int fd);

struct sb_sock *sb_sock_new(int domain, int type, bool nonblock);
void sb_sock_free(struct sb_sock *s);

/* What the machine's conditions need to know about the call in progress. */
struct sb_call {
	unsigned call;      /* SB_STREAM_C_* */
	int flags;          /* MSG_* of the call */
	size_t len;         /* bytes asked for (recv) */
	uint8_t target;     /* connect: enum sb_stream_target */
	uint8_t port;       /* bind: enum sb_stream_port */
	uint8_t how;        /* shutdown: enum sb_stream_how */
	bool pending;       /* accept: a connection is queued */
	/* datagrams */
	uint8_t dest;       /* sendto: enum sb_dgram_dest */
	bool peer_gone;     /* send: nobody is bound at the connected address */
	bool readable;      /* recv: a datagram is queued */
};

/* Brings the state up to date with what the peer did (FIN, reset, hang-up): the spec's peer events. */
void sb_sock_sync(struct sb_sock *s);

/* The rule's case for the call in the current state and memory. */
const struct sb_case *sb_sock_decide(struct sb_sock *s, const struct sb_call *call);

/* Applies an outcome's state change and memory; the caller does the rest (addresses, I/O). */
void sb_sock_apply(struct sb_sock *s, const struct sb_outcome *o);

/* poll() bits for the socket as it is now. */
unsigned sb_sock_poll(struct sb_sock *s);

/* The errno an outcome fails with (the pending error resolved); 0 if it does not fail. */
int sb_sock_errno(struct sb_sock *s, const struct sb_outcome *o);

/* Raises SIGPIPE as the kernel does for a failed stream write (to the thread, like send_sig). */
void sb_sock_sigpipe(void);

/* Whether another process may hold this socket too (then only the kernel knows when the last holder closes). */
static inline bool sb_sock_maybe_shared(const struct sb_sock *s)
{
	return s->shared;
}

/* A connect waiting for room in a listener's queue: nothing rings when there is, so waits look again this often. */
#define SB_CONNECT_RETRY_NS (10 * 1000000LL)

static inline bool sb_sock_connecting(const struct sb_sock *s)
{
	return s->state == SB_STREAM_S_CONNECTING && s->circuit == NULL;
}

/* A duplicate of fd far above the numbers programs use, close-on-exec: for fds the shim keeps for itself. */
int sb_hide_fd(int fd);

/* Makes the circuit reachable by fd for the zero-copy API (circuit/fdtab.h), or forgets it. */
void sb_circuit_fdtab_register(int fd, struct sb_circuit *c);
void sb_circuit_fdtab_unregister(int fd);

/* Another fd number of this socket than `except` (dup), or -1. */
int sb_sock_other_fd(const struct sb_sock *s, int except);

/*
 * vfork: the child runs in the parent's memory until it execs or exits, so
 * its close()s and dup2()s must leave the shim's tables (the parent's) alone.
 * sb_vfork_begin() runs in the parent just before; sb_in_vfork_child() is
 * true in the child (one getpid per call until the parent runs again).
 */
void sb_vfork_begin(void);
bool sb_in_vfork_child(void);

/* After fork: every socket may now be held by two processes. */
void sb_sock_mark_all_shared(void);

#endif
