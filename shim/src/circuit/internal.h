/*
 * What the circuit's source files share; not part of the circuit API.
 */
#ifndef SB_CIRCUIT_INTERNAL_H
#define SB_CIRCUIT_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "circuit.h"
#include "ring.h"

/*
 * Doorbell bytes say which of the receiver's waits they are for, so that two
 * threads of one process sleeping on the same endpoint fd (one waiting for
 * data, one for room) never swallow each other's wake-up (see wait.c).
 */
#define SB_DOORBELL_DATA 'd' /* your receive ring has data, or its producer's state changed */
#define SB_DOORBELL_ROOM 'r' /* your send ring has room, or its consumer's state changed */

/* c->peer_gone: the peer's endpoint fd hung up (its last holder closed it or died). */
enum sb_peer_gone {
	SB_PEER_PRESENT = 0,
	SB_PEER_GONE_CLEAN = 1,  /* it had read everything we sent: like a close (FIN) */
	SB_PEER_GONE_UNREAD = 2, /* it left bytes we sent unread: like a reset (Linux sends RST) */
};

/*
 * Internal flag for the data calls, with SB_NONBLOCK: on EAGAIN, do not probe
 * the endpoint for the peer's death (a system call).  For a first attempt
 * that is retried (blocking, or probing) when it finds nothing to do.
 */
#define SB_NOPROBE 0x100u

/* What a wait waits for. */
enum sb_wait_dir {
	SB_WAIT_DATA, /* bytes (or a record) in rx, or a change of the peer's producer state */
	SB_WAIT_ROOM, /* `need` free bytes in tx, or a change of the peer's consumer state */
};

static inline bool sb_circuit_records(const struct sb_circuit *c)
{
	return c->mode == SB_CIRCUIT_DGRAM;
}

static inline int sb_circuit_broken(const struct sb_circuit *c)
{
	return atomic_load_explicit(&c->broken, memory_order_relaxed);
}

/*
 * Breaks the circuit for good with `err` (EPROTO: the peer corrupted it;
 * ECONNRESET: we reset it): every later call fails with it, and the RESET
 * bits in our state words tell the peer.  Returns -(the errno now in force).
 */
int sb_circuit_fail(struct sb_circuit *c, int err);

/* Our own state bits: fetch_or (release, [C] in ring.h), then wake the peer's waits on that ring. */
void sb_circuit_publish_prod_state(struct sb_circuit *c, uint32_t bits);
void sb_circuit_publish_cons_state(struct sb_circuit *c, uint32_t bits);

/*
 * After publishing prod (tx) or cons (rx): full fence, then ring the peer's
 * doorbell if it announced that it sleeps on that ring ([D] in ring.h).
 * Returns 0 or -EPROTO (the peer's waiting flag holds garbage).
 */
int sb_circuit_notify_data(struct sb_circuit *c); /* after producing into tx */
int sb_circuit_notify_room(struct sb_circuit *c); /* after consuming from rx */

/*
 * The peer's state for the ring we receive on, validated: 0, SB_PROD_FIN
 * (nothing more will come: EOF once empty) or -errno (ECONNRESET, EPROTO,
 * or the circuit's broken errno).  A FIN seen for the first time re-reads prod
 * first ([C]), so the caller re-checks readable bytes before trusting EOF.
 * Considers the peer's death too.
 */
int sb_rx_state(struct sb_circuit *c);

/*
 * Whether we may still send: 0, or -errno: our own error, EPIPE (we shut
 * down writing, or the peer closed its reading side), ECONNRESET (the peer
 * reset, or died leaving our bytes unread).
 */
int sb_tx_state(struct sb_circuit *c);

/*
 * Blocks until the wait can end: `need` bytes readable (SB_WAIT_DATA) or free
 * (SB_WAIT_ROOM), a state change in that direction, the peer's death, the
 * deadline, or a signal.  Spins first (adaptive, see wait.c), then announces,
 * re-checks and sleeps in ppoll() on the endpoint fd.  Returns 0 when the
 * caller should look again, -ETIMEDOUT, -EINTR, or -EPROTO.
 * `deadline_ns` is CLOCK_MONOTONIC, or < 0 for none.
 */
/*
 * Spins (no system call) until the wait would be over or the adaptive budget
 * is spent; false when nothing came.  For callers that must learn whether the
 * fd is non-blocking (a system call) before they may really wait: they spin
 * first when they believe it blocks, and ask only if the spin found nothing.
 */
bool sb_spin_for(struct sb_circuit *c, enum sb_wait_dir dir, uint64_t need);

int sb_wait(struct sb_circuit *c, enum sb_wait_dir dir, uint64_t need, const struct sb_wait *w, int64_t deadline_ns);

/*
 * Until at least `need` bytes of the send ring are free: 0, or -errno
 * (-EAGAIN with SB_NONBLOCK, the send side's state, the wait's -ETIMEDOUT or
 * -EINTR, EPROTO for a corrupt consumer index).  For callers that take their
 * room in one piece (a datagram record, a zero-copy reservation).
 */
int sb_wait_room(struct sb_circuit *c, uint64_t need, unsigned flags, const struct sb_wait *w);

/* The deadline of a call that may wait: now + w->timeout_ns, or -1 (forever, also when w is NULL). */
int64_t sb_deadline(const struct sb_wait *w);

/*
 * Before a non-blocking call returns EAGAIN: checks (without sleeping) whether
 * the peer's endpoint hung up, and records it.  Returns true if it did, and
 * the caller re-evaluates the state instead of returning EAGAIN.
 */
bool sb_circuit_check_peer_gone(struct sb_circuit *c);

/* Records that the peer's endpoint hung up, classifying it by whether it left our bytes unread. */
void sb_circuit_mark_peer_gone(struct sb_circuit *c);

/* sb_circuit_restrict_syscalls() was called: only read, write and ppoll for wake-ups. */
extern _Atomic bool sb_circuit_restricted;
static inline bool sb_syscalls_restricted(void)
{
	return atomic_load_explicit(&sb_circuit_restricted, memory_order_relaxed);
}

/*
 * A waiting flag (cons_waiting, prod_waiting) counts this process's announced
 * waits: a thread in poll() and one in send() may wait for room at the same
 * time, and one withdrawing must not withdraw the other.  The peer only asks
 * whether it is zero.  The peer could write it too: that can only spoil our
 * own wake-ups (as a peer that never answers), so a count that went wrong is
 * merely kept from wrapping.
 */
static inline void sb_flag_up(_Atomic uint32_t *flag)
{
	atomic_fetch_add_explicit(flag, 1, memory_order_relaxed);
}

static inline void sb_flag_down(_Atomic uint32_t *flag)
{
	uint32_t v = atomic_load_explicit(flag, memory_order_relaxed);
	while (v != 0 && !atomic_compare_exchange_weak_explicit(flag, &v, v - 1, memory_order_relaxed, memory_order_relaxed))
		;
}


/* Tunables (tunables.c). */
uint32_t sb_spin_initial_ns(void); /* the per-direction budget a new endpoint starts with */
bool sb_spin_adaptive(void);      /* false when SWITCHBOARD_SPIN_NS fixed it */
uint32_t sb_spin_max_ns(void);
uint32_t sb_spin_min_ns(void);
int64_t sb_now_ns(void);

/* Datagram records: header then payload padded to SB_DGRAM_ALIGN. */
static inline uint64_t sb_dgram_record_size(uint64_t payload)
{
	return sizeof(struct sb_dgram_hdr) + ((payload + SB_DGRAM_ALIGN - 1) & ~(uint64_t)(SB_DGRAM_ALIGN - 1));
}

/* The largest payload a ring of `size` bytes can ever carry. */
static inline uint64_t sb_dgram_max_payload(uint64_t size)
{
	return size - sizeof(struct sb_dgram_hdr);
}

#endif
