/*
 * Waiting for the peer: spin briefly, then announce, re-check and sleep.
 *
 * The protocol (barrier pair [D] in ring.h):
 *
 *   sleeper                                  waker (the peer, after publishing)
 *   1. spin up to the budget, re-checking
 *   2. count waiting up                      a. store prod / cons / state
 *   3. fence (seq_cst)                       b. fence (seq_cst)
 *   4. re-check the ring and state           c. load waiting
 *   5. sleep until a byte arrives on the     d. if set: send one doorbell byte
 *      endpoint fd (or it hangs up)
 *   6. count waiting down, drain doorbells, re-check, back to 2 if still nothing
 *
 * No wake-up is lost: by the two fences, either 4 sees a's store (and we do not
 * sleep) or c sees 2's (and the peer rings).  A rung byte stays in our socket
 * until drained, so it also wakes a sleep entered after it was sent.
 *
 * Step 5 is a blocking recv(MSG_PEEK) when the wait has neither a deadline nor
 * a signal mask (a blocking socket read wakes faster than ppoll() here, ~2 µs
 * per wake-up), else ppoll() with both.  Either only looks: bytes are consumed
 * in step 6, by the rule below.
 *
 * Two threads of one process may sleep on the same endpoint fd, one waiting
 * for data and one for room.  A doorbell byte says which wait it is for, and a
 * drainer never consumes a byte for a wait that is announced (the other
 * thread's): that thread consumes it itself.  A byte for a wait that is not
 * announced is stale (its waiter re-checked after it was rung, see below) and
 * anyone may drop it.  Why dropping is safe: the byte was sent after the peer
 * read waiting == 1; we peeked the byte before reading waiting == 0, so that
 * 0 was stored after the announcement the peer saw, i.e. that waiter already
 * withdrew, and its next announcement's re-check (step 4) sees the progress
 * that caused the byte.  One thread at a time drains (doorbell_lock), so a
 * byte is only ever consumed after being peeked and judged; the lock word
 * also counts drains, which tells a sleeper whether the bytes its blocking
 * peek saw are still the first ones in the socket.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "internal.h"
#include "sys.h"

/* How many doorbell bytes one drain looks at, at most (a flooding peer must not keep us here). */
#define SB_DRAIN_CHUNK 64
#define SB_DRAIN_ROUNDS 16

/* While the head byte belongs to another thread's wait, poll() keeps saying POLLIN: back off instead of spinning. */
#define SB_BACKOFF_MIN_NS 20000
#define SB_BACKOFF_MAX_NS 1000000

enum sb_drain {
	SB_DRAIN_DONE, /* nothing (more) for us */
	SB_DRAIN_LEFT, /* stopped at a byte for another thread's announced wait */
	SB_DRAIN_GONE, /* the peer's end hung up */
};

static inline void sb_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static _Atomic uint32_t *sb_wait_flag(struct sb_circuit *c, enum sb_wait_dir dir)
{
	return dir == SB_WAIT_DATA ? &c->rx.ctl->cons_waiting : &c->tx.ctl->prod_waiting;
}

/* True when the waiter has something to look at: progress, a state change, an error, or the peer's death. */
static bool sb_wait_done(struct sb_circuit *c, enum sb_wait_dir dir, uint64_t need)
{
	if (sb_circuit_broken(c) || atomic_load_explicit(&c->peer_gone, memory_order_relaxed) != SB_PEER_PRESENT)
		return true;
	bool records = sb_circuit_records(c);
	if (dir == SB_WAIT_DATA) {
		struct sb_ring_end *r = &c->rx;
		if (sb_ring_readable(r) >= need)
			return true;
		if (sb_ring_refresh_prod(r, records) < 0) {
			sb_circuit_fail(c, EPROTO);
			return true;
		}
		return sb_ring_readable(r) >= need ||
		       atomic_load_explicit(&r->ctl->prod_state, memory_order_acquire) != r->peer_state ||
		       atomic_load_explicit(&c->shut_rd, memory_order_relaxed);
	}
	struct sb_ring_end *r = &c->tx;
	if (sb_ring_writable(r) >= need)
		return true;
	if (sb_ring_refresh_cons(r, records) < 0) {
		sb_circuit_fail(c, EPROTO);
		return true;
	}
	return sb_ring_writable(r) >= need ||
	       atomic_load_explicit(&r->ctl->cons_state, memory_order_acquire) != r->peer_state ||
	       atomic_load_explicit(&c->shut_wr, memory_order_relaxed);
}

/*
 * Whether the peer is asleep in one of its waits on this circuit: it announced
 * it on the ring it receives from us or on the one it sends to us.  Its answer
 * then comes only after its wake-up (~20 µs on these VMs).
 */
static bool sb_peer_asleep(const struct sb_circuit *c)
{
	return atomic_load_explicit(&c->tx.ctl->cons_waiting, memory_order_relaxed) != 0 ||
	       atomic_load_explicit(&c->rx.ctl->prod_waiting, memory_order_relaxed) != 0;
}

enum sb_spin_outcome {
	SB_SPIN_PAID_OFF, /* the answer came while we spun */
	SB_SPIN_WASTED,   /* it did not, and the peer was awake: it is busy or idle, spinning does not help */
	SB_SPIN_UNCLEAR,  /* it did not, but the peer slept: its wake-up, not its pace, made us miss it */
};

/*
 * The adaptive budget: doubled when a spin paid off, halved when it was
 * wasted, between the limits in tunables.c.  A miss caused by the peer's own
 * sleep changes nothing: counting it would make two sides that once slept
 * keep missing each other's answers (each waits a wake-up, longer than its
 * budget, sleeps, halves), until both budgets sit on the floor and every
 * message costs a wake-up.
 */
static void sb_spin_adapt(struct sb_ring_end *r, enum sb_spin_outcome outcome)
{
	uint32_t b = r->spin_ns;
	if (outcome == SB_SPIN_PAID_OFF)
		b = b > sb_spin_max_ns() / 2 ? sb_spin_max_ns() : b * 2;
	else if (outcome == SB_SPIN_WASTED)
		b = b / 2 < sb_spin_min_ns() ? sb_spin_min_ns() : b / 2;
	r->spin_ns = b;
}

/*
 * Spins until the wait is over or the budget is spent.  One pause per look at
 * the ring (a look is a load or two of lines the peer writes), the clock every
 * 16th look: detecting the answer late costs as much as the hand-off itself.
 * When the peer is asleep as we start (we have just rung it), the spin also
 * covers one wake-up, once: otherwise the answer arrives just after we gave up.
 */
static bool sb_spin(struct sb_circuit *c, struct sb_ring_end *r, enum sb_wait_dir dir, uint64_t need,
		    int64_t deadline_ns)
{
	bool adaptive = sb_spin_adaptive();
	bool peer_asleep = adaptive && sb_peer_asleep(c);
	int64_t end = sb_now_ns() + r->spin_ns + (peer_asleep ? sb_spin_max_ns() : 0);
	if (deadline_ns >= 0 && deadline_ns < end)
		end = deadline_ns;
	for (unsigned look = 1;; look++) {
		sb_cpu_relax();
		if (sb_wait_done(c, dir, need)) {
			if (adaptive)
				sb_spin_adapt(r, SB_SPIN_PAID_OFF);
			return true;
		}
		if (look % 16 == 0 && sb_now_ns() >= end)
			break;
	}
	if (adaptive)
		sb_spin_adapt(r, peer_asleep || sb_peer_asleep(c) ? SB_SPIN_UNCLEAR : SB_SPIN_WASTED);
	return false;
}

static struct timespec sb_timespec(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000 };
}

/* Takes the drain lock; returns the drain count it found. */
static uint32_t sb_doorbell_lock(struct sb_circuit *c)
{
	for (;;) {
		uint32_t v = atomic_load_explicit(&c->doorbell_lock, memory_order_relaxed) & ~1u;
		if (atomic_compare_exchange_weak_explicit(&c->doorbell_lock, &v, v | 1u, memory_order_acquire,
							  memory_order_relaxed))
			return v >> 1;
		sched_yield(); /* the holder only makes two non-blocking calls */
	}
}

static void sb_doorbell_unlock(struct sb_circuit *c, uint32_t drains, bool consumed)
{
	atomic_store_explicit(&c->doorbell_lock, (drains + (consumed ? 1u : 0u)) << 1, memory_order_release);
}

/*
 * With the lock held, `bytes` being the first n bytes in the socket: consumes
 * the longest prefix that no announced wait of another thread needs.
 */
static enum sb_drain sb_doorbell_judge(struct sb_circuit *c, const unsigned char *bytes, long n, bool *consumed)
{
	/* Judge the peeked bytes by the flags as they are now, after the bytes arrived. */
	atomic_thread_fence(memory_order_seq_cst);
	bool data_announced = atomic_load_explicit(&c->rx.ctl->cons_waiting, memory_order_relaxed) != 0;
	bool room_announced = atomic_load_explicit(&c->tx.ctl->prod_waiting, memory_order_relaxed) != 0;
	long take = 0;
	while (take < n && !((bytes[take] == SB_DOORBELL_DATA && data_announced) ||
			     (bytes[take] == SB_DOORBELL_ROOM && room_announced)))
		take++;
	if (take > 0) {
		unsigned char sink[SB_DRAIN_CHUNK];
		(void)sb_sys_recv(c->endpoint_fd, sink, (size_t)take, MSG_DONTWAIT);
		*consumed = true;
	}
	return take < n ? SB_DRAIN_LEFT : SB_DRAIN_DONE;
}

/* With the lock held: peeks and judges until nothing is left for us (bounded: a flooding peer must not keep us). */
/* Restricted to read and ppoll (sb_circuit_restrict_syscalls): no peeking, every byte waiting is taken. */
static enum sb_drain sb_doorbell_drain_restricted(struct sb_circuit *c, bool *consumed)
{
	unsigned char bytes[SB_DRAIN_CHUNK];
	for (int round = 0; round < SB_DRAIN_ROUNDS; round++) {
		struct pollfd p = { .fd = c->endpoint_fd, .events = POLLIN };
		struct timespec zero = { 0, 0 };
		long r = sb_sys_ppoll(&p, 1, &zero, NULL);
		if (r == -EINTR)
			continue;
		if (r <= 0 || !(p.revents & (POLLIN | POLLHUP | POLLERR)))
			return SB_DRAIN_DONE;
		long n = sb_sys_read(c->endpoint_fd, bytes, sizeof bytes); /* readable: does not block */
		if (n == -EINTR)
			continue;
		if (n <= 0)
			return n == -EAGAIN ? SB_DRAIN_DONE : SB_DRAIN_GONE;
		*consumed = true;
		if (n < (long)sizeof bytes)
			return SB_DRAIN_DONE;
	}
	return SB_DRAIN_DONE;
}

static enum sb_drain sb_doorbell_drain_locked(struct sb_circuit *c, bool *consumed)
{
	if (sb_syscalls_restricted())
		return sb_doorbell_drain_restricted(c, consumed);
	unsigned char bytes[SB_DRAIN_CHUNK];
	for (int round = 0; round < SB_DRAIN_ROUNDS; round++) {
		long n = sb_sys_recv(c->endpoint_fd, bytes, sizeof bytes, MSG_PEEK | MSG_DONTWAIT);
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			return SB_DRAIN_DONE;
		if (n <= 0) /* 0: orderly hang-up; ECONNRESET: it closed with our doorbells unread */
			return SB_DRAIN_GONE;
		enum sb_drain d = sb_doorbell_judge(c, bytes, n, consumed);
		if (d != SB_DRAIN_DONE || n < (long)sizeof bytes)
			return d;
	}
	return SB_DRAIN_DONE;
}

/* Consumes doorbell bytes, except those for another thread's announced wait (see the top of the file). */
static enum sb_drain sb_doorbell_drain(struct sb_circuit *c)
{
	bool consumed = false;
	uint32_t drains = sb_doorbell_lock(c);
	enum sb_drain d = sb_doorbell_drain_locked(c, &consumed);
	sb_doorbell_unlock(c, drains, consumed);
	return d;
}

/*
 * The same after a blocking peek saw `bytes` when the drain count was
 * `seen`: if nobody drained since, they are still the first bytes in the
 * socket and need not be peeked again.
 */
static enum sb_drain sb_doorbell_take(struct sb_circuit *c, const unsigned char *bytes, long n, uint32_t seen)
{
	bool consumed = false;
	uint32_t drains = sb_doorbell_lock(c);
	enum sb_drain d;
	if (drains == seen) {
		d = sb_doorbell_judge(c, bytes, n, &consumed);
		if (d == SB_DRAIN_DONE && n == SB_DRAIN_CHUNK)
			d = sb_doorbell_drain_locked(c, &consumed); /* there may be more */
	} else {
		d = sb_doorbell_drain_locked(c, &consumed);
	}
	sb_doorbell_unlock(c, drains, consumed);
	return d;
}

bool sb_circuit_ack_doorbell(struct sb_circuit *c)
{
	if (sb_doorbell_drain(c) == SB_DRAIN_GONE)
		sb_circuit_mark_peer_gone(c);
	return atomic_load_explicit(&c->peer_gone, memory_order_relaxed) != SB_PEER_PRESENT;
}

int64_t sb_deadline(const struct sb_wait *w)
{
	if (w == NULL || w->timeout_ns < 0)
		return -1;
	int64_t now = sb_now_ns();
	return w->timeout_ns > INT64_MAX - now ? -1 : now + w->timeout_ns;
}

/* Sleeps `ns` (capped by the deadline) without watching the endpoint: 0, or -EINTR. */
static int sb_backoff(int64_t ns, int64_t deadline_ns, const sigset_t *sigmask)
{
	if (deadline_ns >= 0) {
		int64_t left = deadline_ns - sb_now_ns();
		if (left < ns)
			ns = left > 0 ? left : 0;
	}
	struct timespec ts = sb_timespec(ns);
	long rc = sb_sys_ppoll(NULL, 0, &ts, sigmask);
	return rc == -EINTR ? -EINTR : 0;
}

bool sb_spin_for(struct sb_circuit *c, enum sb_wait_dir dir, uint64_t need)
{
	struct sb_ring_end *r = dir == SB_WAIT_DATA ? &c->rx : &c->tx;
	return sb_wait_done(c, dir, need) || (r->spin_ns > 0 && sb_spin(c, r, dir, need, -1));
}

int sb_wait(struct sb_circuit *c, enum sb_wait_dir dir, uint64_t need, const struct sb_wait *w, int64_t deadline_ns)
{
	struct sb_ring_end *r = dir == SB_WAIT_DATA ? &c->rx : &c->tx;
	const sigset_t *sigmask = w != NULL ? w->sigmask : NULL;
	if (sb_wait_done(c, dir, need))
		return 0;
	if (r->spin_ns > 0 && sb_spin(c, r, dir, need, deadline_ns))
		return 0;
	_Atomic uint32_t *flag = sb_wait_flag(c, dir);
	bool blocking_peek = deadline_ns < 0 && sigmask == NULL && !sb_syscalls_restricted();
	int64_t backoff = SB_BACKOFF_MIN_NS;
	for (;;) {
		sb_flag_up(flag); /* [D] announce ... */
		atomic_thread_fence(memory_order_seq_cst);           /* ... fence ... */
		if (sb_wait_done(c, dir, need)) {                     /* ... re-check */
			sb_flag_down(flag);
			return 0;
		}
		enum sb_drain d;
		if (blocking_peek) {
			uint32_t seen = atomic_load_explicit(&c->doorbell_lock, memory_order_acquire) >> 1;
			unsigned char bytes[SB_DRAIN_CHUNK];
			long n = sb_sys_recv(c->endpoint_fd, bytes, sizeof bytes, MSG_PEEK); /* sleeps */
			sb_flag_down(flag); /* withdraw before draining: our bytes are ours to drop */
			if (n == -EAGAIN) {
				blocking_peek = false; /* an O_NONBLOCK endpoint cannot sleep in recv: ppoll from now on */
				continue;
			}
			if (n == -EINTR || n == -EBADF || n == -ENOTSOCK)
				return n == -EINTR ? -EINTR : -EBADF;
			if (n <= 0) { /* 0: hang-up; an error: it closed with our doorbells unread (ECONNRESET) */
				sb_circuit_mark_peer_gone(c);
				return 0;
			}
			d = sb_doorbell_take(c, bytes, n, seen);
		} else {
			struct timespec ts, *timeout = NULL;
			if (deadline_ns >= 0) {
				int64_t left = deadline_ns - sb_now_ns();
				if (left <= 0) {
					sb_flag_down(flag);
					return -ETIMEDOUT;
				}
				ts = sb_timespec(left);
				timeout = &ts;
			}
			struct pollfd p = { .fd = c->endpoint_fd, .events = POLLIN };
			long n = sb_sys_ppoll(&p, 1, timeout, sigmask);
			sb_flag_down(flag);
			if (n < 0)
				return (int)n; /* -EINTR, or -ENOMEM */
			if (n == 0)
				continue; /* the deadline: the next round reports it after a last look */
			if (p.revents & POLLNVAL)
				return -EBADF;
			if (p.revents & (POLLHUP | POLLERR)) {
				sb_circuit_mark_peer_gone(c);
				return 0;
			}
			d = sb_doorbell_drain(c);
		}
		if (d == SB_DRAIN_GONE) {
			sb_circuit_mark_peer_gone(c);
			return 0;
		}
		if (sb_wait_done(c, dir, need))
			return 0;
		if (d == SB_DRAIN_LEFT) {
			int rc = sb_backoff(backoff, deadline_ns, sigmask);
			if (rc < 0)
				return rc;
			backoff = backoff * 2 > SB_BACKOFF_MAX_NS ? SB_BACKOFF_MAX_NS : backoff * 2;
		} else {
			backoff = SB_BACKOFF_MIN_NS;
		}
	}
}

int sb_wait_room(struct sb_circuit *c, uint64_t need, unsigned flags, const struct sb_wait *w)
{
	struct sb_ring_end *r = &c->tx;
	bool records = sb_circuit_records(c);
	bool have_deadline = false;
	int64_t deadline = -1;
	while (sb_ring_writable(r) < need) {
		if (sb_ring_refresh_cons(r, records) < 0)
			return sb_circuit_fail(c, EPROTO);
		if (sb_ring_writable(r) >= need)
			break;
		if (flags & SB_NONBLOCK) {
			int rc = !(flags & SB_NOPROBE) && sb_circuit_check_peer_gone(c) ? sb_tx_state(c) : 0;
			return rc < 0 ? rc : -EAGAIN;
		}
		if (!have_deadline) {
			deadline = sb_deadline(w);
			have_deadline = true;
		}
		int rc = sb_wait(c, SB_WAIT_ROOM, need, w, deadline);
		int state = sb_tx_state(c);
		if (state < 0)
			return state;
		if (rc < 0)
			return rc;
	}
	return 0;
}
