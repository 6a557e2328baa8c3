/*
 * A circuit endpoint: one process's view of a circuit.
 *
 * A circuit is a sealed memfd (see layout.h) plus a pair of connected kernel
 * sockets, one per endpoint (AF_UNIX, in the future handed out by the
 * operator).  The kernel socket is the endpoint's identity and doorbell:
 * the program's socket fd *is* this kernel fd, a side rings the other's
 * doorbell by writing a byte on it only when the other announced that it is
 * going to sleep, and when the last holder of the peer's end dies the kernel
 * tells us (POLLHUP), which is how peer death is noticed.
 *
 * Every function returns >= 0 on success or a negative errno; the shim turns
 * that into -1/errno (and SIGPIPE where Linux raises it).  Errors:
 *   -EAGAIN      would block (non-blocking, or SB_NONBLOCK)
 *   -EINTR       a signal handler ran while waiting and nothing was transferred (as recv():
 *                a handler with SA_RESTART resumes a wait without deadline or signal mask)
 *   -ETIMEDOUT   the wait's deadline passed (the shim maps it to EAGAIN for SO_RCVTIMEO)
 *   -EPIPE       writing after our shutdown(SHUT_WR) or after the peer closed its reading side
 *   -ECONNRESET  the peer reset the circuit, or died leaving our bytes unread
 *   -EPROTO      the peer corrupted the shared memory: the circuit is broken for good
 *   -EMSGSIZE    a datagram larger than the ring can ever hold (or a reservation larger than the ring)
 *   -EOPNOTSUPP  a stream call on a datagram circuit or the other way round
 *   -EINVAL      a bad argument (iovec count, shutdown's how, committing more than reserved…)
 *
 * Threads: one thread may send while another receives on the same endpoint
 * without locks (each ring has one producer and one consumer).  Several
 * senders (or receivers) on one endpoint must serialise; the shim does that.
 * shutdown(SHUT_WR), reset and close count as sends (they end the stream), the
 * zero-copy reserve/commit as a send and peek/release as a receive.
 * sb_circuit_poll/arm/disarm/ack_doorbell may be called from any thread.
 */
#ifndef SB_CIRCUIT_H
#define SB_CIRCUIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "layout.h"

enum sb_circuit_role {
	SB_ROLE_CONNECTOR = 0, /* sends on ring A, receives on ring B */
	SB_ROLE_ACCEPTOR = 1,  /* sends on ring B, receives on ring A */
};

/* Flags for the data calls (a subset mirrors MSG_*; the shim translates). */
#define SB_NONBLOCK 0x1u /* never wait: -EAGAIN instead */
#define SB_PEEK 0x2u     /* receive without consuming */
#define SB_WAITALL 0x4u  /* stream receive: wait for the whole request (or EOF/error) */
#define SB_TRUNC 0x8u    /* datagram receive: return the real length even if longer than the buffer */

/* How long a blocking call may wait. */
struct sb_wait {
	int64_t timeout_ns;       /* < 0: forever */
	const sigset_t *sigmask;  /* signal mask while asleep (ppoll), or NULL */
};

/* What the creator chooses. */
struct sb_circuit_geometry {
	uint32_t mode;            /* enum sb_circuit_mode */
	uint64_t ring_size[2];    /* 0: the default (see docs/circuits.md for why it is what it is) */
};

/* One direction as this endpoint sees it.  Everything here is local and trusted,
 * and written only by the thread that sends (tx) or receives (rx). */
struct sb_ring_end {
	unsigned char *data;      /* ring bytes in the mapping */
	uint64_t size, mask;      /* validated copies from the header, never re-read */
	struct sb_ring_ctl *ctl;  /* shared, untrusted */
	uint64_t local;           /* our own index (prod when sending, cons when receiving) */
	uint64_t cached_peer;     /* the peer's index as last read and validated */
	uint64_t span;            /* zero-copy: bytes handed out by reserve (tx) or peek (rx), not yet committed/released */
	uint32_t peer_state;      /* the peer's state bits for this ring as last validated: once seen, a bit must stay set */
	uint32_t spin_ns;         /* adaptive spin budget before sleeping on this direction */
};

struct sb_circuit {
	struct sb_circuit_shared *shm;
	size_t map_len;
	int endpoint_fd;          /* the kernel socket: doorbell, peer death */
	uint32_t mode;
	enum sb_circuit_role role;
	struct sb_ring_end tx, rx;
	/* Shared by the sending and the receiving thread, hence atomic (relaxed is enough: each is sticky). */
	_Atomic int broken;       /* 0, or the errno every call now fails with */
	_Atomic bool shut_rd, shut_wr; /* our own shutdown()s */
	_Atomic uint32_t peer_gone;
	/* What the fd's O_NONBLOCK was when last read (fcntl): a hint, never the truth.
	 * Callers that believe the fd blocks spin before asking the kernel. */
	_Atomic bool nonblock_hint;    /* the peer's endpoint fd hung up: 0, or how it left (see docs/circuits.md) */
	_Atomic uint32_t doorbell_lock; /* bit 0: a thread is draining doorbell bytes; the rest counts drains (wait.c) */
};

/*
 * From now on, wake-ups use only read, write and ppoll (a seccomp filter is
 * about to forbid sendto and recvfrom, as sshd's sandboxed child does).  The
 * price: a doorbell to a peer that is gone raises SIGPIPE, and two threads
 * waiting on one circuit may take each other's doorbells (then the other
 * re-checks after its next wake-up).  Irreversible, process-wide.
 */
void sb_circuit_restrict_syscalls(void);

/*
 * Before using a circuit another process may have used since we last did
 * (both sides of a fork hold it; sshd's children take turns): our own
 * indices are taken back from shared memory, validated.  Never while that
 * other process is using it: the rings have one producer and one consumer.
 * `sending` counts as a send and `receiving` as a receive (see Threads above).
 */
void sb_circuit_adopt(struct sb_circuit *c, bool sending, bool receiving);

/* Creation: a sealed memfd laid out for `g`; returns the fd or -errno. */
int sb_circuit_create(const struct sb_circuit_geometry *g);

/* Maps and validates a circuit memfd as `role`, taking `endpoint_fd` as the doorbell.
 * Refuses (-EPROTO) a memfd whose header is invalid or that is not sealed.
 * Does not take ownership of either fd. */
int sb_circuit_attach(struct sb_circuit *c, int memfd, int endpoint_fd, enum sb_circuit_role role);

/* Unmaps. Does not close the endpoint fd and does not tell the peer anything. */
void sb_circuit_detach(struct sb_circuit *c);

/* Both ends in this process (tests, benchmarks, sb_circuit_socketpair()):
 * creates the memfd and an AF_UNIX socket pair (SOCK_CLOEXEC when cloexec). */
int sb_circuit_pair(const struct sb_circuit_geometry *g, struct sb_circuit *connector, struct sb_circuit *acceptor,
		    bool cloexec);

/* Stream data.  Sends take all of the iovec unless non-blocking (then a partial
 * count) or interrupted after some bytes (then that count). */
ssize_t sb_circuit_send(struct sb_circuit *c, const struct iovec *iov, int iovcnt, unsigned flags,
			const struct sb_wait *w);
ssize_t sb_circuit_recv(struct sb_circuit *c, const struct iovec *iov, int iovcnt, unsigned flags,
			const struct sb_wait *w);

/* Datagram data: one record per call.  recv sets *truncated when the buffer was short,
 * returns the datagram's real length with SB_TRUNC, fills src/srclen like recvfrom(),
 * and returns 0 with *srclen = 0 once the peer shut down writing and every record was read. */
ssize_t sb_circuit_send_dgram(struct sb_circuit *c, const struct iovec *iov, int iovcnt, const struct sockaddr *src,
			      socklen_t srclen, unsigned flags, const struct sb_wait *w);
ssize_t sb_circuit_recv_dgram(struct sb_circuit *c, const struct iovec *iov, int iovcnt, struct sockaddr *src,
			      socklen_t *srclen, bool *truncated, unsigned flags, const struct sb_wait *w);

/* The next datagram in rx, without taking it: 1 (and *head filled), 0 when
 * there is none, or -errno (EPROTO: the peer corrupted the ring).  `index` is
 * where the record starts (our consumer index), `stamp` the sender's claim of
 * when it sent it (CLOCK_MONOTONIC ns, unchecked). */
struct sb_dgram_head {
	uint32_t len;
	uint64_t stamp;
	uint64_t index;
};
int sb_circuit_dgram_head(struct sb_circuit *c, struct sb_dgram_head *head);

/* A datagram we did not send because the peer's ring was full (UDP drops it): counted for the operator. */
void sb_circuit_count_drop(struct sb_circuit *c);

/* Half-close (SHUT_RD, SHUT_WR, SHUT_RDWR), abortive reset, and close
 * (FIN, or reset when we leave received bytes unread, as Linux does). */
int sb_circuit_shutdown(struct sb_circuit *c, int how);
void sb_circuit_reset(struct sb_circuit *c);
void sb_circuit_close(struct sb_circuit *c);

/* Readiness from ring state alone (no system call): POLLIN, POLLOUT, POLLRDHUP,
 * POLLHUP, POLLERR as poll() would report them for a socket. */
unsigned sb_circuit_poll(struct sb_circuit *c);

/* Before sleeping on the endpoint fd for `events`: announce it in the control
 * area, then re-check.  Returns the events already ready (then do not sleep,
 * and call sb_circuit_disarm); 0 means the peer will ring the doorbell.
 * The whole sequence: arm, sleep (poll/epoll on endpoint_fd for POLLIN),
 * disarm, ack_doorbell, sb_circuit_poll (readiness.c).  Announcements are
 * counted (several threads may wait at once): disarm exactly what was armed. */
unsigned sb_circuit_arm(struct sb_circuit *c, unsigned events);
void sb_circuit_disarm(struct sb_circuit *c, unsigned events);
/* Reads and discards pending doorbell bytes (except those for a wait another
 * thread has armed); returns true if the peer's end is gone. */
bool sb_circuit_ack_doorbell(struct sb_circuit *c);

/* What the peer has done, as far as shared memory and our last probe show (no system call). */
struct sb_circuit_view {
	uint64_t readable;       /* bytes (records: bytes of records) waiting in rx */
	uint64_t writable;       /* free bytes in tx */
	uint64_t unread_by_peer; /* bytes we sent that the peer has not consumed */
	bool peer_fin;           /* the peer shut down writing (SB_PROD_FIN on rx) */
	bool peer_reset;         /* the peer reset the circuit */
	bool peer_closed;        /* the peer closed its reading side (SB_CONS_CLOSED on tx): our bytes go nowhere */
	bool peer_gone;          /* its endpoint hung up (as of our last look at the doorbell socket) */
	int broken;              /* 0, or the errno the circuit is broken with */
};
void sb_circuit_view(struct sb_circuit *c, struct sb_circuit_view *v);

/* Asks the kernel whether the peer's endpoint hung up (one poll() system call); true if it did. */
bool sb_circuit_probe_peer(struct sb_circuit *c);

/* Zero-copy: spans of the rings as iovecs (two when they wrap).  reserve waits
 * for at least `min` free bytes (0 counts as 1; more than the ring: -EMSGSIZE)
 * and returns all that is free; commit publishes a prefix (0 gives it up);
 * peek returns the readable bytes it knows of (at least one; 0 at EOF); release consumes a prefix.
 * A copy-path send or receive ends an outstanding reservation or peek. */
ssize_t sb_circuit_reserve(struct sb_circuit *c, size_t min, struct iovec iov[2], int *iovcnt, unsigned flags,
			   const struct sb_wait *w);
int sb_circuit_commit(struct sb_circuit *c, size_t len);
ssize_t sb_circuit_peek(struct sb_circuit *c, struct iovec iov[2], int *iovcnt, unsigned flags,
			const struct sb_wait *w);
int sb_circuit_release(struct sb_circuit *c, size_t len);

/* The default ring size and spin limits (tunable by environment, see docs/circuits.md). */
uint64_t sb_circuit_default_ring_size(void);

#endif
