/*
 * Readiness for poll/select/epoll: sb_circuit_poll from ring state, and the
 * arm / sleep on the endpoint fd / disarm / ack sequence woken by the peer.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "support.h"

#define SMALL 4096

TEST(ready_poll_reflects_ring_state)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	CHECK_EQ(sb_circuit_poll(&p.a), POLLOUT | POLLWRNORM);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), 1);
	CHECK_EQ(sb_circuit_poll(&p.b), POLLIN | POLLRDNORM | POLLOUT | POLLWRNORM);
	static char buf[SMALL];
	CHECK_EQ(send_buf(&p.a, buf, SMALL, SB_NONBLOCK), SMALL - 1);
	CHECK_EQ(sb_circuit_poll(&p.a) & POLLOUT, 0); /* full */
	CHECK_EQ(recv_buf(&p.b, buf, 1, 0), 1);
	CHECK(sb_circuit_poll(&p.a) & POLLOUT);
	pair_close(&p);
}

TEST(ready_dgram_pollout_needs_room_for_a_record)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	static char buf[SMALL];
	const size_t hdr = sizeof(struct sb_dgram_hdr);
	CHECK_EQ(send_dgram(&p.a, buf, SMALL - 2 * hdr - 8, 0), (ssize_t)(SMALL - 2 * hdr - 8));
	CHECK(sb_circuit_poll(&p.a) & POLLOUT); /* 48 bytes left: an empty datagram fits */
	CHECK_EQ(send_dgram(&p.a, buf, 0, 0), 0);
	CHECK_EQ(sb_circuit_poll(&p.a) & POLLOUT, 0);
	pair_close(&p);
}

/* The poll loop a shim would run: arm, sleep on the endpoint, disarm, ack, look. */
static unsigned wait_ready(struct sb_circuit *c, unsigned events, int timeout_ms)
{
	unsigned ready = sb_circuit_arm(c, events);
	if (ready == 0) {
		struct pollfd pfd = { .fd = c->endpoint_fd, .events = POLLIN };
		CHECK(poll(&pfd, 1, timeout_ms) >= 0);
	}
	sb_circuit_disarm(c, events);
	sb_circuit_ack_doorbell(c);
	return sb_circuit_poll(c) & events;
}

static void send_x(void *arg)
{
	CHECK_EQ(send_buf(arg, "x", 1, 0), 1);
}

static void read_all(void *arg)
{
	static char buf[SMALL];
	CHECK(recv_buf(arg, buf, sizeof buf, 0) > 0);
}

TEST(ready_arm_then_sleep_is_woken_by_the_peer)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	/* Already readable: arm says so and nobody sleeps. */
	CHECK_EQ(send_buf(&p.b, "y", 1, 0), 1);
	CHECK_EQ(sb_circuit_arm(&p.a, POLLIN) & POLLIN, POLLIN);
	sb_circuit_disarm(&p.a, POLLIN);
	char c;
	CHECK_EQ(recv_buf(&p.a, &c, 1, 0), 1);
	/* Not readable: sleep on the fd until the peer's doorbell. */
	for (int i = 0; i < 20; i++) {
		int64_t t0 = now_ms();
		struct delayed *d = after_ms(5, send_x, &p.b);
		CHECK_EQ(wait_ready(&p.a, POLLIN, 5000), POLLIN);
		CHECK(now_ms() - t0 < 4000);
		thread_join(d);
		CHECK_EQ(recv_buf(&p.a, &c, 1, 0), 1);
	}
	/* Full: sleep until the peer makes room. */
	static char buf[SMALL];
	CHECK_EQ(send_buf(&p.a, buf, SMALL, 0), SMALL);
	struct delayed *d = after_ms(5, read_all, &p.b);
	CHECK_EQ(wait_ready(&p.a, POLLOUT, 5000), POLLOUT);
	thread_join(d);
	/* Nothing happens: the sleep runs out and nothing is ready. */
	CHECK_EQ(wait_ready(&p.a, POLLIN, 20), 0);
	pair_close(&p);
}

TEST(ready_no_doorbell_when_nobody_sleeps)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	for (int i = 0; i < 100; i++)
		CHECK_EQ(send_buf(&p.a, "z", 1, 0), 1);
	/* The fast path makes no system call: no doorbell byte was written. */
	struct pollfd pfd = { .fd = p.b.endpoint_fd, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 0), 0);
	pair_close(&p);
}
