/*
 * Datagram mode: boundaries, EMSGSIZE, truncation, wrap-around, the sender's
 * address, PEEK, EAGAIN and blocking for room.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>

#include "support.h"

#define SMALL 4096
#define HDR ((size_t)sizeof(struct sb_dgram_hdr))

TEST(dgram_boundaries_are_kept)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	CHECK_EQ(send_dgram(&p.a, "one", 3, 0), 3);
	CHECK_EQ(send_dgram(&p.a, "", 0, 0), 0);
	CHECK_EQ(send_dgram(&p.a, "three", 5, 0), 5);
	char buf[16];
	bool trunc = true;
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, 0, &trunc), 3);
	CHECK(!trunc && memcmp(buf, "one", 3) == 0);
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, 0, &trunc), 0);
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, 0, &trunc), 5);
	CHECK(memcmp(buf, "three", 5) == 0);
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, SB_NONBLOCK, NULL), -EAGAIN);
	/* Each published datagram is counted for the operator's `switchboard circuits`. */
	CHECK_EQ(atomic_load(&p.a.tx.ctl->prod_records), 3);
	CHECK_EQ(atomic_load(&p.b.tx.ctl->prod_records), 0);
	pair_close(&p);
}

TEST(dgram_larger_than_the_ring_is_emsgsize)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	static unsigned char buf[SMALL];
	CHECK_EQ(send_dgram(&p.a, buf, SMALL - HDR + 1, 0), -EMSGSIZE);
	CHECK_EQ(send_dgram(&p.a, buf, SMALL - HDR + 1, SB_NONBLOCK), -EMSGSIZE);
	CHECK_EQ(send_dgram(&p.a, buf, SMALL - HDR, 0), (ssize_t)(SMALL - HDR)); /* the largest fits exactly */
	CHECK_EQ(send_dgram(&p.a, buf, 0, SB_NONBLOCK), -EAGAIN);
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, 0, NULL), (ssize_t)(SMALL - HDR));
	pair_close(&p);
}

TEST(dgram_short_buffer_truncates_and_reports)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	CHECK_EQ(send_dgram(&p.a, "0123456789", 10, 0), 10);
	CHECK_EQ(send_dgram(&p.a, "abcdef", 6, 0), 6);
	CHECK_EQ(send_dgram(&p.a, "XY", 2, 0), 2);
	char buf[4];
	bool trunc = false;
	CHECK_EQ(recv_dgram(&p.b, buf, 4, 0, &trunc), 4);
	CHECK(trunc && memcmp(buf, "0123", 4) == 0);
	CHECK_EQ(recv_dgram(&p.b, buf, 4, SB_TRUNC, &trunc), 6); /* MSG_TRUNC: the real length */
	CHECK(trunc && memcmp(buf, "abcd", 4) == 0);
	CHECK_EQ(recv_dgram(&p.b, buf, 4, SB_TRUNC, &trunc), 2); /* the rest of each was dropped */
	CHECK(!trunc && memcmp(buf, "XY", 2) == 0);
	pair_close(&p);
}

TEST(dgram_peek_does_not_consume)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	CHECK_EQ(send_dgram(&p.a, "first", 5, 0), 5);
	CHECK_EQ(send_dgram(&p.a, "second", 6, 0), 6);
	char buf[8];
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, SB_PEEK, NULL), 5);
	CHECK_EQ(recv_dgram(&p.b, buf, 2, SB_PEEK | SB_TRUNC, NULL), 5);
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, 0, NULL), 5);
	CHECK(memcmp(buf, "first", 5) == 0);
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, 0, NULL), 6);
	pair_close(&p);
}

TEST(dgram_records_wrap_around_the_ring)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	static unsigned char out[1500], in[1500];
	uint64_t seq = 0, next = 0;
	/* Sizes that are not multiples of 8 or of the ring: headers and payloads land across the end. */
	for (int round = 0; round < 3000; round++) {
		size_t n = (size_t)(round * 337) % 1400 + (round % 3);
		pattern_fill(seq, 0, out, n);
		ssize_t k = send_dgram(&p.a, out, n, SB_NONBLOCK);
		if (k == -EAGAIN) {
			bool trunc;
			struct iovec v = { in, sizeof in };
			ssize_t got = sb_circuit_recv_dgram(&p.b, &v, 1, NULL, NULL, &trunc, SB_NONBLOCK, &forever);
			CHECK(got >= 0 && !trunc);
			CHECK(pattern_check(next, 0, in, (size_t)got));
			next++;
			k = send_dgram(&p.a, out, n, SB_NONBLOCK);
			if (k == -EAGAIN)
				continue; /* try the same size again next round (seq unchanged) */
		}
		CHECK_EQ(k, (ssize_t)n);
		seq++;
	}
	while (next < seq) {
		ssize_t got = recv_dgram(&p.b, in, sizeof in, SB_NONBLOCK, NULL);
		CHECK(got >= 0);
		CHECK(pattern_check(next, 0, in, (size_t)got));
		next++;
	}
	CHECK(seq > 1000);
	pair_close(&p);
}

TEST(dgram_carries_the_sender_address)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	struct sockaddr_in6 from = { .sin6_family = AF_INET6, .sin6_port = htons(5353) };
	inet_pton(AF_INET6, "fd00::17", &from.sin6_addr);
	struct iovec v = { "ping", 4 };
	CHECK_EQ(sb_circuit_send_dgram(&p.a, &v, 1, (struct sockaddr *)&from, sizeof from, 0, &forever), 4);
	struct sockaddr_in v4 = { .sin_family = AF_INET, .sin_port = htons(53) };
	CHECK_EQ(sb_circuit_send_dgram(&p.a, &v, 1, (struct sockaddr *)&v4, sizeof v4, 0, &forever), 4);
	CHECK_EQ(sb_circuit_send_dgram(&p.a, &v, 1, NULL, 0, 0, &forever), 4);
	CHECK_EQ(sb_circuit_send_dgram(&p.a, &v, 1, (struct sockaddr *)&from, SB_DGRAM_ADDR_MAX + 1, 0, &forever),
		 -EINVAL);

	char buf[8];
	struct iovec in = { buf, sizeof buf };
	struct sockaddr_in6 got;
	socklen_t len = sizeof got;
	CHECK_EQ(sb_circuit_recv_dgram(&p.b, &in, 1, (struct sockaddr *)&got, &len, NULL, 0, &forever), 4);
	CHECK_EQ(len, sizeof from);
	CHECK(memcmp(&got, &from, sizeof from) == 0);
	/* A short address buffer gets a prefix and the real length, as recvfrom(). */
	unsigned char shorter[4];
	len = sizeof shorter;
	CHECK_EQ(sb_circuit_recv_dgram(&p.b, &in, 1, (struct sockaddr *)shorter, &len, NULL, 0, &forever), 4);
	CHECK_EQ(len, sizeof v4);
	CHECK(memcmp(shorter, &v4, sizeof shorter) == 0);
	len = sizeof got;
	CHECK_EQ(sb_circuit_recv_dgram(&p.b, &in, 1, (struct sockaddr *)&got, &len, NULL, 0, &forever), 4);
	CHECK_EQ(len, 0);
	pair_close(&p);
}

static void drain_one(void *arg)
{
	char buf[SMALL];
	CHECK(recv_dgram(arg, buf, sizeof buf, 0, NULL) >= 0);
}

TEST(dgram_blocking_send_waits_for_room_for_the_whole_record)
{
	setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	static unsigned char buf[2040];
	CHECK_EQ(send_dgram(&p.a, buf, 2040, 0), 2040);
	CHECK_EQ(send_dgram(&p.a, buf, 2040, SB_NONBLOCK), -EAGAIN); /* 2 x (40 + 2040) > 4096 */
	CHECK_EQ(send_dgram(&p.a, buf, 1960, SB_NONBLOCK), 1960);    /* 2080 + 2000 fits */
	int64_t t0 = now_ms();
	struct delayed *d = after_ms(50, drain_one, &p.b);
	CHECK_EQ(send_dgram(&p.a, buf, 2040, 0), 2040);
	CHECK(now_ms() - t0 >= 45);
	thread_join(d);
	pair_close(&p);
}

TEST(dgram_close_ends_the_peer_reads_and_writes)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	CHECK_EQ(send_dgram(&p.a, "x", 1, 0), 1);
	CHECK_EQ(send_dgram(&p.b, "unread", 6, 0), 6);
	sb_circuit_close(&p.a); /* a datagram circuit never resets over unread data */
	char buf[8];
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, 0, NULL), 1);
	CHECK_EQ(recv_dgram(&p.b, buf, sizeof buf, 0, NULL), 0);
	CHECK(sb_circuit_poll(&p.b) & POLLRDHUP);
	CHECK_EQ(send_dgram(&p.b, "y", 1, 0), -EPIPE);
	pair_close(&p);
}

TEST(dgram_calls_on_a_stream_circuit_fail)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char c = 0;
	CHECK_EQ(send_dgram(&p.a, &c, 1, 0), -EOPNOTSUPP);
	CHECK_EQ(recv_dgram(&p.b, &c, 1, 0, NULL), -EOPNOTSUPP);
	pair_close(&p);
}
