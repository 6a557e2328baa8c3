/*
 * A hostile peer: every field the peer writes, corrupted in turn.  The honest
 * endpoint (a) must fail with EPROTO and keep failing, tell the peer (RESET
 * bits, so an honest library endpoint on the other side sees ECONNRESET),
 * and never crash or touch memory outside the mapping (the ASan build checks).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "support.h"

#define SMALL 4096

/* The rings as the peer (b) sees them: a sends on A, receives on B. */
static struct sb_ring_ctl *ring_a(struct pair *p)
{
	return &p->a.shm->ring[SB_RING_A];
}

static struct sb_ring_ctl *ring_b(struct pair *p)
{
	return &p->a.shm->ring[SB_RING_B];
}

/* After a violation: a is broken for good, and says so in shared memory. */
static void check_broken(struct pair *p)
{
	char c = 0;
	CHECK_EQ(sb_circuit_broken(&p->a), EPROTO);
	if (p->a.mode == SB_CIRCUIT_STREAM) {
		CHECK_EQ(send_buf(&p->a, &c, 1, SB_NONBLOCK), -EPROTO);
		CHECK_EQ(recv_buf(&p->a, &c, 1, SB_NONBLOCK), -EPROTO);
	} else {
		CHECK_EQ(send_dgram(&p->a, &c, 1, SB_NONBLOCK), -EPROTO);
		CHECK_EQ(recv_dgram(&p->a, &c, 1, SB_NONBLOCK, NULL), -EPROTO);
	}
	CHECK(sb_circuit_poll(&p->a) & POLLERR);
	CHECK(atomic_load(&ring_a(p)->prod_state) & SB_PROD_RESET);
	CHECK(atomic_load(&ring_b(p)->cons_state) & SB_CONS_RESET);
}

/* ... and an honest library endpoint on the other side learns it as a reset. */
static void check_peer_sees_reset(struct pair *p)
{
	char c = 0;
	CHECK_EQ(send_buf(&p->b, &c, 1, SB_NONBLOCK), -ECONNRESET);
	CHECK_EQ(recv_buf(&p->b, &c, 1, SB_NONBLOCK), -ECONNRESET);
}

/* ---- the consumer side: a reads ring B, which the peer produces ---- */

TEST(hostile_prod_beyond_a_full_ring)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	atomic_store(&ring_b(&p)->prod, SMALL + 1);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), -EPROTO);
	check_broken(&p);
	check_peer_sees_reset(&p);
	pair_close(&p);
}

TEST(hostile_prod_wraps_to_a_huge_value)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	atomic_store(&ring_b(&p)->prod, UINT64_MAX);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, SB_NONBLOCK), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_prod_moves_backwards)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[100];
	CHECK_EQ(send_buf(&p.b, buf, 100, 0), 100);
	CHECK_EQ(recv_buf(&p.a, buf, 100, 0), 100);
	atomic_store(&ring_b(&p)->prod, 50); /* below what a already read */
	CHECK_EQ(recv_buf(&p.a, buf, 1, SB_NONBLOCK), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_prod_moves_after_fin)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[16];
	CHECK_EQ(send_buf(&p.b, "0123456789", 10, 0), 10);
	CHECK_EQ(sb_circuit_shutdown(&p.b, SHUT_WR), 0);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 10);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 0);
	atomic_store(&ring_b(&p)->prod, 15); /* more bytes after the end */
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_prod_state_unknown_bits)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	atomic_store(&ring_b(&p)->prod_state, 0x4);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, SB_NONBLOCK), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_prod_state_takes_fin_back)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	CHECK_EQ(sb_circuit_shutdown(&p.b, SHUT_WR), 0);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 0);
	atomic_store(&ring_b(&p)->prod_state, 0);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_prod_waiting_garbage)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	CHECK_EQ(send_buf(&p.b, "abc", 3, 0), 3);
	atomic_store(&ring_b(&p)->prod_waiting, 0xdead); /* read by a after consuming */
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_poll_sees_an_impossible_ring)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	atomic_store(&ring_b(&p)->prod, 3 * SMALL);
	CHECK(sb_circuit_poll(&p.a) & POLLERR);
	check_broken(&p);
	pair_close(&p);
}

/* ---- datagram records ---- */

/* Writes a record header at index `at` of ring B and publishes up to `prod`. */
static void forge_record(struct pair *p, uint64_t at, struct sb_dgram_hdr h, uint64_t prod)
{
	struct sb_ring_end ring_b_as_producer = p->b.tx;
	sb_ring_write(&ring_b_as_producer, at, &h, sizeof h);
	atomic_store(&ring_b(p)->prod, prod);
}

static void expect_record_refused(struct sb_dgram_hdr h, uint64_t prod)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	forge_record(&p, 0, h, prod);
	char buf[64];
	CHECK_EQ(recv_dgram(&p.a, buf, sizeof buf, SB_NONBLOCK, NULL), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_dgram_headers)
{
	const uint64_t hdr = sizeof(struct sb_dgram_hdr);
	/* A good record passes (the harness itself is right). */
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	forge_record(&p, 0, (struct sb_dgram_hdr){ .len = 5, .addr_len = 0 }, hdr + 8);
	char buf[64];
	CHECK_EQ(recv_dgram(&p.a, buf, sizeof buf, SB_NONBLOCK, NULL), 5);
	pair_close(&p);

	expect_record_refused((struct sb_dgram_hdr){ .len = SMALL }, hdr + 8);            /* larger than the ring */
	expect_record_refused((struct sb_dgram_hdr){ .len = UINT32_MAX }, hdr + 8);       /* wraps arithmetic */
	expect_record_refused((struct sb_dgram_hdr){ .len = 64 }, hdr + 8);               /* beyond what is published */
	expect_record_refused((struct sb_dgram_hdr){ .len = 1, .addr_len = 29 }, hdr + 8);
	expect_record_refused((struct sb_dgram_hdr){ .len = 1, .flags = 1 }, hdr + 8);
	expect_record_refused((struct sb_dgram_hdr){ .len = 1, .reserved = 1 }, hdr + 8);
	expect_record_refused((struct sb_dgram_hdr){ .len = 0 }, 8);                      /* half a header */
	expect_record_refused((struct sb_dgram_hdr){ .len = 0 }, hdr + 3);                /* misaligned prod */
}

/* ---- the producer side: a writes ring A, which the peer consumes ---- */

TEST(hostile_cons_beyond_prod)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	static char buf[SMALL + 1];
	atomic_store(&ring_a(&p)->cons, 5); /* consumed bytes we never sent */
	CHECK_EQ(send_buf(&p.a, buf, sizeof buf, SB_NONBLOCK), -EPROTO);
	check_broken(&p);
	check_peer_sees_reset(&p);
	pair_close(&p);
}

TEST(hostile_cons_moves_backwards)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	static char buf[SMALL];
	CHECK_EQ(send_buf(&p.a, buf, 100, 0), 100);
	CHECK_EQ(recv_buf(&p.b, buf, 100, 0), 100);
	CHECK_EQ(send_buf(&p.a, buf, SMALL, SB_NONBLOCK), SMALL); /* a now caches cons = 100 */
	atomic_store(&ring_a(&p)->cons, 50);
	CHECK_EQ(send_buf(&p.a, buf, 1, SB_NONBLOCK), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_cons_state_unknown_bits)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	atomic_store(&ring_a(&p)->cons_state, 0x80000000u);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_cons_state_takes_closed_back)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	sb_circuit_close(&p.b);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -EPIPE);
	atomic_store(&ring_a(&p)->cons_state, 0);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_cons_waiting_garbage)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	atomic_store(&ring_a(&p)->cons_waiting, 2); /* read by a after producing */
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_dgram_cons_misaligned)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	static char buf[SMALL];
	CHECK_EQ(send_dgram(&p.a, buf, 10, 0), 10);
	atomic_store(&ring_a(&p)->cons, 3);
	/* The largest datagram needs the whole ring, so a re-reads cons. */
	CHECK_EQ(send_dgram(&p.a, buf, SMALL - sizeof(struct sb_dgram_hdr), 0), -EPROTO);
	check_broken(&p);
	pair_close(&p);
}

TEST(hostile_rewritten_header_changes_nothing)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	memset(&p.a.shm->header, 0xff, sizeof p.a.shm->header);
	for (int i = 0; i < 4; i++) { /* through the wrap-around */
		send_pattern(&p.b, 12, (uint64_t)i * 3000, 3000);
		recv_pattern(&p.a, 12, (uint64_t)i * 3000, 3000);
	}
	pair_close(&p);
}

/*
 * Random scribbles over every peer-written word between honest calls: any
 * result is fine as long as it is a documented one and nothing crashes (the
 * fuzz target does this at length; this is the quick deterministic version).
 */
TEST(hostile_random_scribbles)
{
	uint64_t rng = 0x1234567;
	for (int round = 0; round < 400; round++) {
		struct pair p;
		uint32_t mode = round % 2 ? SB_CIRCUIT_DGRAM : SB_CIRCUIT_STREAM;
		pair_open(&p, mode, SMALL);
		static unsigned char buf[2 * SMALL];
		for (int step = 0; step < 40; step++) {
			rng = rng * 6364136223846793005u + 1442695040888963407u;
			uint64_t v = rng >> 11;
			struct sb_ring_ctl *ctl = (v & 1) ? ring_a(&p) : ring_b(&p);
			uint64_t small = (v >> 8) % (3 * SMALL);
			switch ((v >> 1) % 8) {
			case 0: atomic_store(&ctl->prod, small); break;
			case 1: atomic_store(&ctl->cons, small); break;
			case 2: atomic_store(&ctl->prod_state, (uint32_t)(v >> 20) & 7); break;
			case 3: atomic_store(&ctl->cons_state, (uint32_t)(v >> 20) & 7); break;
			case 4: atomic_store(&ctl->prod_waiting, (uint32_t)(v >> 20) & 3); break;
			case 5: atomic_store(&ctl->cons_waiting, (uint32_t)(v >> 20) & 3); break;
			case 6: { /* scribble over ring bytes the peer produces */
				size_t at = small % SMALL, len = 1 + (v >> 50) % 64;
				memset(p.b.tx.data + at, (int)(v >> 40), len < SMALL - at ? len : SMALL - at);
				break;
			}
			default: break; /* an honest step of the peer below */
			}
			size_t n = 1 + (v >> 24) % sizeof buf;
			ssize_t r;
			if (mode == SB_CIRCUIT_STREAM) {
				r = send_buf(&p.a, buf, n, SB_NONBLOCK);
				CHECK(r > 0 || r == -EAGAIN || r == -EPROTO || r == -EPIPE || r == -ECONNRESET);
				r = recv_buf(&p.a, buf, n, SB_NONBLOCK | ((v >> 30) & 1 ? SB_PEEK : 0));
				CHECK(r >= 0 || r == -EAGAIN || r == -EPROTO || r == -ECONNRESET);
				r = send_buf(&p.b, buf, n, SB_NONBLOCK);
				r = recv_buf(&p.b, buf, n, SB_NONBLOCK);
			} else {
				r = send_dgram(&p.a, buf, n % SMALL, SB_NONBLOCK);
				CHECK(r >= 0 || r == -EAGAIN || r == -EPROTO || r == -EPIPE || r == -ECONNRESET ||
				      r == -EMSGSIZE);
				bool t;
				r = recv_dgram(&p.a, buf, n, SB_NONBLOCK, &t);
				CHECK(r >= 0 || r == -EAGAIN || r == -EPROTO || r == -ECONNRESET);
				r = send_dgram(&p.b, buf, n % SMALL, SB_NONBLOCK);
				r = recv_dgram(&p.b, buf, n, SB_NONBLOCK, &t);
			}
			(void)r;
			(void)sb_circuit_poll(&p.a);
			if (sb_circuit_broken(&p.a)) {
				CHECK_EQ(sb_circuit_broken(&p.a), EPROTO);
				break;
			}
		}
		pair_close(&p);
	}
}
