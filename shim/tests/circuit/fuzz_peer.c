/*
 * libFuzzer target: the fuzzer plays a hostile peer against an honest
 * endpoint.
 *
 * Each input is a program.  Its first byte picks the mode, the ring sizes and
 * which role the honest side plays; then each op is either a call of the
 * honest endpoint (send, receive, reserve/commit, peek/release, poll and
 * arm/ack, shutdown, close, reset, short blocking waits) or a move of the
 * peer: overwrite any index, state or waiting word of either ring, scribble
 * over ring bytes, forge a datagram header where the honest side reads next,
 * ring the doorbell with arbitrary bytes, make an honest move through its own
 * library endpoint (so deep, valid states are reachable), or die (close its
 * endpoint fd).  The peer writes through its own mapping, as a real peer does.
 *
 * Beyond "no crash, no access outside the mapping" (ASan) and "no undefined
 * behaviour" (UBSan), every honest call is checked:
 *   - it returns a count within what was asked, or one of the documented errors;
 *   - spans from reserve/peek lie inside the ring they belong to;
 *   - once it said EPROTO, the circuit stays broken (every data call says EPROTO)
 *     and our RESET bits are set for the peer to see;
 *   - poll reports only poll bits;
 *   - nothing hangs (waits use timeouts of at most 100 µs; -timeout catches the rest).
 *
 *   sb_circuit_fuzz -max_total_time=600 [corpus dir]
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "circuit.h"
#include "internal.h"

#define MAX_OPS 200
#define MAX_RING 8192

struct input {
	const uint8_t *p;
	size_t n;
};

static uint8_t u8(struct input *in)
{
	if (in->n == 0)
		return 0;
	in->n--;
	return *in->p++;
}

static uint16_t u16(struct input *in)
{
	return (uint16_t)(u8(in) | u8(in) << 8);
}

static uint32_t u32(struct input *in)
{
	return (uint32_t)u16(in) | (uint32_t)u16(in) << 16;
}

static uint64_t u64(struct input *in)
{
	return (uint64_t)u32(in) | (uint64_t)u32(in) << 32;
}

struct world {
	struct sb_circuit h; /* the honest endpoint under test */
	struct sb_circuit p; /* the peer's own library endpoint: its mapping is where the peer writes */
	bool h_done;         /* honest side closed or reset: no more honest calls */
	bool p_alive;        /* the peer's endpoint fd is open */
	bool broken;         /* the honest side has said EPROTO */
};

static unsigned char buf[4 * MAX_RING];

static _Noreturn void fail(const char *what, long value)
{
	fprintf(stderr, "fuzz_peer: invariant broken: %s (%ld)\n", what, value);
	abort();
}

/* The result of a data call: a count up to `max`, or a documented error. */
static void check_result(struct world *w, const char *call, long rc, long max, bool may_einval)
{
	if (rc >= 0) {
		if (rc > max)
			fail(call, rc);
		if (w->broken && rc > 0)
			fail("data moved after EPROTO", rc);
		return;
	}
	switch (-rc) {
	case EINTR: /* libFuzzer's -timeout ticks with SIGALRM */
	case EAGAIN:
	case ETIMEDOUT:
	case ECONNRESET:
	case EPIPE:
	case EMSGSIZE:
	case EOPNOTSUPP:
		break;
	case EPROTO:
		if (sb_circuit_broken(&w->h) != EPROTO)
			fail("EPROTO without a broken circuit", rc);
		/* The first time, right after the call (before the peer can clear them): our RESET bits say so. */
		if (!w->broken && (!(atomic_load(&w->h.tx.ctl->prod_state) & SB_PROD_RESET) ||
				   !(atomic_load(&w->h.rx.ctl->cons_state) & SB_CONS_RESET)))
			fail("broken without telling the peer", rc);
		w->broken = true;
		return;
	case EINVAL:
		if (may_einval)
			break;
		/* fall through */
	default:
		fail(call, rc);
	}
	/* A broken circuit still checks arguments first (EINVAL, EMSGSIZE, EOPNOTSUPP); everything else is EPROTO. */
	if (w->broken && rc != -EINVAL && rc != -EMSGSIZE && rc != -EOPNOTSUPP)
		fail("a broken circuit answered something else than EPROTO", rc);
}

/* Calls that report nothing (poll, arm, ack, close) may also find the corruption: the same promises hold. */
static void check_breakage(struct world *w)
{
	if (w->broken || sb_circuit_broken(&w->h) != EPROTO)
		return;
	if (!(atomic_load(&w->h.tx.ctl->prod_state) & SB_PROD_RESET) ||
	    !(atomic_load(&w->h.rx.ctl->cons_state) & SB_CONS_RESET))
		fail("broken without telling the peer", 0);
	w->broken = true;
}

static void check_spans(const struct iovec *iov, int cnt, long total, const struct sb_ring_end *r)
{
	long sum = 0;
	if (cnt < 0 || cnt > 2)
		fail("span count", cnt);
	for (int i = 0; i < cnt; i++) {
		const unsigned char *b = iov[i].iov_base;
		if (b < r->data || b + iov[i].iov_len > r->data + r->size)
			fail("span outside its ring", i);
		sum += (long)iov[i].iov_len;
	}
	if (sum != total)
		fail("spans do not add up", sum);
}

static struct sb_wait short_wait(struct input *in)
{
	static const int64_t choices[] = { 0, 1000, 100000 };
	return (struct sb_wait){ .timeout_ns = choices[u8(in) % 3], .sigmask = NULL };
}

/* Splits buf[0..n) into up to three iovecs. */
static int split(struct input *in, struct iovec v[3], size_t n)
{
	int cnt = 1 + u8(in) % 3;
	size_t a = cnt > 1 ? u16(in) % (n + 1) : n, b = cnt > 2 ? u16(in) % (n - a + 1) : n - a;
	v[0] = (struct iovec){ buf, a };
	v[1] = (struct iovec){ buf + a, b };
	v[2] = (struct iovec){ buf + a + b, n - a - b };
	return cnt;
}

static void honest_op(struct world *w, struct input *in, uint8_t op)
{
	struct sb_circuit *h = &w->h;
	bool dgram = h->mode == SB_CIRCUIT_DGRAM;
	uint8_t how = u8(in);
	unsigned flags = how & 1 ? SB_NONBLOCK : 0;
	struct sb_wait wait = short_wait(in);
	struct iovec v[3], span[2];
	int cnt = 0;
	long rc;
	switch (op) {
	case 0: { /* send */
		size_t n = u16(in) % (3 * MAX_RING);
		int k = split(in, v, n);
		if (dgram) {
			struct sockaddr_in6 addr;
			memset(&addr, u8(in), sizeof addr);
			socklen_t len = u8(in) % 32;
			rc = sb_circuit_send_dgram(h, v, k, (struct sockaddr *)&addr, len, flags, &wait);
			check_result(w, "send_dgram", rc, (long)n, len > SB_DGRAM_ADDR_MAX);
		} else {
			rc = sb_circuit_send(h, v, k, flags, &wait);
			check_result(w, "send", rc, (long)n, false);
		}
		break;
	}
	case 1: { /* receive */
		size_t n = u16(in) % (3 * MAX_RING);
		int k = split(in, v, n);
		if (dgram) {
			flags |= (how & 2 ? SB_PEEK : 0) | (how & 4 ? SB_TRUNC : 0);
			unsigned char addr[40];
			socklen_t len = u8(in) % 40;
			bool trunc;
			rc = sb_circuit_recv_dgram(h, v, k, (struct sockaddr *)addr, how & 8 ? &len : NULL, &trunc, flags,
						   &wait);
			check_result(w, "recv_dgram", rc, (flags & SB_TRUNC) ? (long)h->rx.size : (long)n, false);
			if (rc >= 0 && (how & 8) && len > SB_DGRAM_ADDR_MAX)
				fail("source address longer than a record can carry", len);
		} else {
			flags |= (how & 2 ? SB_PEEK : 0) | (how & 4 ? SB_WAITALL : 0);
			rc = sb_circuit_recv(h, v, k, flags, &wait);
			check_result(w, "recv", rc, (long)n, false);
		}
		break;
	}
	case 2: { /* reserve, write, commit */
		size_t min = u16(in) % (MAX_RING + 16);
		rc = sb_circuit_reserve(h, min, span, &cnt, flags, &wait);
		check_result(w, "reserve", rc, (long)h->tx.size, false);
		if (rc > 0) {
			if ((size_t)rc < (min ? min : 1))
				fail("reserved less than asked", rc);
			check_spans(span, cnt, rc, &h->tx);
			memset(span[0].iov_base, u8(in), span[0].iov_len);
		}
		size_t len = u16(in) % (MAX_RING + 1);
		if (rc > 0 && (how & 2))
			len %= (size_t)rc + 1; /* mostly a valid commit */
		check_result(w, "commit", sb_circuit_commit(h, len), 0, true);
		break;
	}
	case 3: { /* peek, read, release */
		rc = sb_circuit_peek(h, span, &cnt, flags, &wait);
		check_result(w, "peek", rc, (long)h->rx.size, false);
		if (rc > 0) {
			check_spans(span, cnt, rc, &h->rx);
			volatile unsigned char sink = 0;
			for (int i = 0; i < cnt; i++)
				for (size_t j = 0; j < span[i].iov_len; j += 64)
					sink ^= ((unsigned char *)span[i].iov_base)[j];
			(void)sink;
		}
		size_t len = u16(in) % (MAX_RING + 1);
		if (rc > 0 && (how & 2))
			len %= (size_t)rc + 1;
		check_result(w, "release", sb_circuit_release(h, len), 0, true);
		break;
	}
	case 4: { /* readiness */
		const unsigned known = POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM | POLLERR | POLLHUP | POLLRDHUP;
		unsigned ev = sb_circuit_poll(h);
		if (ev & ~known)
			fail("poll bits", ev);
		unsigned want = (how & 2 ? POLLIN : 0) | (how & 4 ? POLLOUT : 0);
		ev = sb_circuit_arm(h, want);
		if (ev & ~known)
			fail("arm bits", ev);
		if (ev == 0 && (how & 8)) {
			struct pollfd pfd = { .fd = h->endpoint_fd, .events = POLLIN };
			poll(&pfd, 1, 0);
		}
		sb_circuit_disarm(h, want);
		sb_circuit_ack_doorbell(h);
		break;
	}
	case 5: { /* shutdown */
		static const int hows[] = { SHUT_RD, SHUT_WR, SHUT_RDWR, 7 };
		int hw = hows[how % 4];
		rc = sb_circuit_shutdown(h, hw);
		if (rc != (hw == 7 ? -EINVAL : 0))
			fail("shutdown", rc);
		break;
	}
	case 6: /* the end: orderly close, or abortive */
		if (how & 2)
			sb_circuit_reset(h);
		else
			sb_circuit_close(h);
		w->h_done = true;
		break;
	}
}

static _Atomic uint32_t *state_word(struct sb_ring_ctl *ctl, unsigned which)
{
	switch (which % 4) {
	case 0:
		return &ctl->prod_state;
	case 1:
		return &ctl->cons_state;
	case 2:
		return &ctl->prod_waiting;
	default:
		return &ctl->cons_waiting;
	}
}

static void peer_op(struct world *w, struct input *in, uint8_t op)
{
	struct sb_circuit *p = &w->p;
	struct sb_ring_ctl *ctl = &p->shm->ring[u8(in) & 1];
	uint8_t sel = u8(in);
	switch (op) {
	case 0: { /* an index: raw, relative, or near what the honest side holds */
		_Atomic uint64_t *word = sel & 1 ? &ctl->prod : &ctl->cons;
		uint64_t v;
		switch ((sel >> 1) % 4) {
		case 0:
			v = u64(in);
			break;
		case 1:
			v = atomic_load(word) + (uint64_t)(int64_t)(int16_t)u16(in);
			break;
		case 2:
			v = w->h.rx.local + (uint64_t)(int64_t)(int16_t)u16(in);
			break;
		default:
			v = w->h.tx.local + (uint64_t)(int64_t)(int16_t)u16(in);
			break;
		}
		atomic_store(word, v);
		break;
	}
	case 1: { /* a state or waiting word */
		uint32_t v = sel & 0x10 ? u32(in) : (uint32_t)(u8(in) & 7);
		atomic_store(state_word(ctl, sel), v);
		break;
	}
	case 2: { /* ring bytes */
		struct sb_ring_end *r = sel & 1 ? &p->tx : &p->rx;
		size_t at = u16(in) % r->size, len = u8(in) % 64;
		if (len > r->size - at)
			len = r->size - at;
		for (size_t i = 0; i < len; i++)
			r->data[at + i] = u8(in);
		break;
	}
	case 3: { /* a datagram header where the honest side reads next, and prod past it */
		struct sb_dgram_hdr hdr = { .len = sel & 1 ? u32(in) : u16(in) % 600,
					    .flags = sel & 2 ? u16(in) : 0,
					    .addr_len = sel & 4 ? u16(in) : u8(in) % 30,
					    .reserved = sel & 8 ? u32(in) : 0 };
		struct sb_ring_end as_producer = p->tx;
		uint64_t at = w->h.rx.local;
		sb_ring_write(&as_producer, at, &hdr, sizeof hdr);
		if (sel & 16)
			atomic_store(&p->tx.ctl->prod, at + sizeof hdr + ((uint64_t)(u16(in) % 700) & ~(uint64_t)7));
		break;
	}
	case 4: { /* an honest move of the peer */
		size_t n = u16(in) % (2 * MAX_RING);
		struct iovec v = { buf, n };
		bool t;
		switch (sel % 6) {
		case 0:
			if (p->mode == SB_CIRCUIT_DGRAM)
				sb_circuit_send_dgram(p, &v, 1, NULL, 0, SB_NONBLOCK, NULL);
			else
				sb_circuit_send(p, &v, 1, SB_NONBLOCK, NULL);
			break;
		case 1:
			if (p->mode == SB_CIRCUIT_DGRAM)
				sb_circuit_recv_dgram(p, &v, 1, NULL, NULL, &t, SB_NONBLOCK, NULL);
			else
				sb_circuit_recv(p, &v, 1, SB_NONBLOCK, NULL);
			break;
		case 2:
			sb_circuit_shutdown(p, SHUT_WR);
			break;
		case 3:
			sb_circuit_close(p);
			break;
		case 4:
			sb_circuit_reset(p);
			break;
		default:
			sb_circuit_ack_doorbell(p);
			break;
		}
		break;
	}
	case 5: { /* doorbell bytes, any values */
		if (!w->p_alive)
			break;
		unsigned char bytes[8];
		size_t n = 1 + sel % 8;
		for (size_t i = 0; i < n; i++)
			bytes[i] = sel & 0x80 ? u8(in) : (u8(in) & 1 ? SB_DOORBELL_DATA : SB_DOORBELL_ROOM);
		(void)send(p->endpoint_fd, bytes, n, MSG_DONTWAIT | MSG_NOSIGNAL);
		break;
	}
	case 6: /* death: the peer's endpoint fd goes away */
		if (w->p_alive) {
			close(p->endpoint_fd);
			w->p_alive = false;
		}
		break;
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setenv("SWITCHBOARD_SPIN_NS", "300", 1); /* waits are 0–100 µs: spin a little (to cover it), not the default 20 µs */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct input in = { data, size };
	uint8_t cfg = u8(&in);
	struct sb_circuit_geometry g = {
		.mode = cfg & 1 ? SB_CIRCUIT_DGRAM : SB_CIRCUIT_STREAM,
		.ring_size = { cfg & 2 ? MAX_RING : 4096, cfg & 4 ? MAX_RING : 4096 },
	};
	struct sb_circuit conn, acc;
	if (sb_circuit_pair(&g, &conn, &acc, true) < 0)
		fail("cannot make a circuit", 0);
	static struct world w;
	bool honest_connects = cfg & 8;
	w = (struct world){ .p_alive = true };
	w.h = honest_connects ? conn : acc;
	w.p = honest_connects ? acc : conn;
	/* The struct copies above carry the atomics' values; that is all attach set. */

	for (int ops = 0; ops < MAX_OPS && in.n > 0; ops++) {
		uint8_t op = u8(&in);
		if (op < 128) {
			if (!w.h_done) {
				honest_op(&w, &in, op % 7);
				check_breakage(&w);
			}
		} else {
			peer_op(&w, &in, (uint8_t)(op % 7));
		}
		if (w.broken && !w.h_done) {
			/* Sticky: a second look must say the same. */
			struct iovec v = { buf, 1 };
			long rc = w.h.mode == SB_CIRCUIT_DGRAM
					  ? sb_circuit_recv_dgram(&w.h, &v, 1, NULL, NULL, NULL, SB_NONBLOCK, NULL)
					  : sb_circuit_recv(&w.h, &v, 1, SB_NONBLOCK, NULL);
			if (rc != -EPROTO)
				fail("EPROTO did not stick", rc);
		}
	}

	close(w.h.endpoint_fd);
	if (w.p_alive)
		close(w.p.endpoint_fd);
	sb_circuit_detach(&w.h);
	sb_circuit_detach(&w.p);
	return 0;
}
