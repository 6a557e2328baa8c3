/*
 * A UDP socket's flows: one datagram circuit per peer socket.
 *
 * The first datagram between two sockets asks the operator for a circuit
 * (the policy is checked then, once); later ones reuse it, in both
 * directions.  The sender of that first datagram holds the connector's end;
 * the receiver learns of the circuit from an `incoming` message on its port
 * fd, announced by its mailbox (a counter the operator raises before the
 * sender hears back), so a receiver notices new peers without a system call.
 *
 * Receiving takes, among all flows, the datagram sent first (the stamp in its
 * record header, clamped: see sb_flows_pick), as the kernel's single receive
 * queue would; within one flow the ring keeps the order.  A full ring drops
 * the datagram at the sender and counts it (UDP's receive-buffer drop): a
 * send never waits for a receiver.
 *
 * Sleeping: every flow's endpoint (its doorbell) and the port fd sit in one
 * private epoll instance, the socket's *wake fd*; a waiter announces itself
 * on every flow's receive ring, re-checks, and sleeps on the wake fd.
 *
 * Locking: the table changes under s->lock; a flow is used for sending under
 * s->send_lock and for receiving under s->recv_lock; a flow is freed only
 * with all three held (sb_flows_collect).
 */
#ifndef SB_UDP_FLOWS_H
#define SB_UDP_FLOWS_H

#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "circuit/circuit.h"
#include "sb_protocol.h"

struct sb_sock;

struct sb_flow {
	struct sb_circuit c;            /* endpoint_fd: our hidden end of the circuit's doorbell pair */
	uint64_t id;                    /* the operator's circuit id */
	struct sockaddr_storage peer;   /* the peer as this socket names it (recvfrom's address) */
	struct sockaddr_storage local;  /* our address on this flow (IP_PKTINFO's destination) */
	socklen_t peer_len, local_len;
	uint64_t floor;                 /* the earliest stamp its next datagram may claim */
	uint64_t keep_before;           /* while connected elsewhere: records starting before this index were queued before connect */
	uint64_t sent, received;        /* bytes, for the operator's accounting */
	bool dead;                      /* broken, or the peer is gone and its datagrams are read: skipped, freed later */
};

struct sb_udp {
	struct sb_flow **flows;
	unsigned nflows, cap;
	int wake_fd;                    /* private epoll instance (hidden fd), -1 until the socket has a port */
	int port_fd;                    /* a hidden duplicate of the port fd, where `incoming` arrives; -1 until then */
	const _Atomic uint64_t *mailbox; /* the operator's count of `incoming` queued for us (read-only mapping) */
	uint64_t mailbox_seen;          /* how many we took (under take_lock; others read it as a hint) */
	pthread_mutex_t take_lock;      /* one thread at a time takes `incoming` from the port fd */
	bool connected_filter;          /* connected: datagrams from other peers are dropped on arrival */
	bool pktinfo, recvpktinfo6;     /* IP_PKTINFO, IPV6_RECVPKTINFO */
	bool dead_seen;                 /* a flow was marked dead: sb_flows_collect has work */
	unsigned armed;                 /* flows announced on by the current sleeper(s) (arm/disarm pair up) */
};

/* Keeps a hidden duplicate of the port fd, sets up the wake fd with it, and maps the mailbox (its fd is closed). 0 or -errno. */
int sb_flows_open(struct sb_udp *u, int port_fd, int mailbox_fd);

/* The port goes (connect(AF_UNSPEC) of an autobound socket): flows stop receiving, but what they hold stays
 * readable.  Under s->lock. */
void sb_flows_unbind(struct sb_sock *s);

/* Unmaps and closes everything; each flow's circuit is closed (the peer sees it gone) unless `shared`. */
void sb_flows_close(struct sb_sock *s, bool shared);

/* The live flow whose peer is `addr`, or NULL.  Under s->lock. */
struct sb_flow *sb_flows_find(struct sb_udp *u, const struct sockaddr_storage *addr, socklen_t len);

/* Makes a flow of a granted or incoming circuit (fds consumed) and adds it.  Under s->lock. */
struct sb_flow *sb_flows_add(struct sb_udp *u, int memfd, int endpoint, enum sb_circuit_role role, uint64_t id,
			     const struct sockaddr_storage *local, socklen_t local_len, const struct sockaddr_storage *peer,
			     socklen_t peer_len);

/* Takes the `incoming` messages the mailbox announces (or all there are, when `all`).  Takes s->lock. */
void sb_flows_take_incoming(struct sb_sock *s, bool all);

/* Whether the mailbox announces flows we have not taken (no system call). */
bool sb_flows_news(const struct sb_udp *u);

/*
 * The flow with the datagram to deliver next and that datagram's head, or
 * NULL when none is queued.  Drops (consumes) what a connected socket must
 * not see, marks broken flows dead.  Under s->recv_lock.
 */
struct sb_flow *sb_flows_pick(struct sb_sock *s, struct sb_dgram_head *head);

/* Whether any flow has a record queued, from the shared indices alone (any thread, no recv_lock). */
bool sb_flows_any_queued(struct sb_sock *s);

/* The sum of every flow's published receive index (and the flow count): moves with each arrival. */
uint64_t sb_flows_arrivals(struct sb_sock *s);

/* Bytes of the next datagram (FIONREAD), 0 if none (or while another thread is receiving). */
uint32_t sb_flows_next_len(struct sb_sock *s);

/* After a delivered datagram: its stamp is the flow's new floor. */
void sb_flows_delivered(struct sb_flow *f, const struct sb_dgram_head *head, uint64_t bytes);

/* Connect: records where each other flow's queue ends (those datagrams stay); disconnect: drops what came since. */
void sb_flows_connect_filter(struct sb_sock *s, bool on);

/* Sleep support: announce on every flow (true if something is already there: do not sleep), withdraw, and
 * after waking acknowledge doorbells and notice peers that hung up. */
bool sb_flows_arm(struct sb_sock *s);
void sb_flows_disarm(struct sb_sock *s);
void sb_flows_ack(struct sb_sock *s);

/* Frees dead flows if no sender is busy (takes s->send_lock by trylock).  Under s->recv_lock. */
void sb_flows_collect(struct sb_sock *s);

#endif
