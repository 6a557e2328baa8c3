/*
 * Stream mode: data, partial writes, EAGAIN both ways, blocking waits,
 * timeouts and signals, WAITALL and PEEK.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

#define SMALL 4096 /* the smallest ring: fills fast, wraps often */

TEST(stream_roundtrip_both_directions)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, 0);
	char buf[16];
	CHECK_EQ(send_buf(&p.a, "hello", 5, 0), 5);
	CHECK_EQ(recv_buf(&p.b, buf, sizeof buf, 0), 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(send_buf(&p.b, "world!", 6, 0), 6);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 6);
	CHECK(memcmp(buf, "world!", 6) == 0);
	pair_close(&p);
}

TEST(stream_iovecs_gather_and_scatter)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct iovec out[3] = { { "ab", 2 }, { "", 0 }, { "cdefg", 5 } };
	CHECK_EQ(sb_circuit_send(&p.a, out, 3, 0, &forever), 7);
	char x[3], y[10];
	struct iovec in[2] = { { x, sizeof x }, { y, sizeof y } };
	CHECK_EQ(sb_circuit_recv(&p.b, in, 2, 0, &forever), 7);
	CHECK(memcmp(x, "abc", 3) == 0 && memcmp(y, "defg", 4) == 0);
	CHECK_EQ(sb_circuit_send(&p.a, out, -1, 0, &forever), -EINVAL);
	pair_close(&p);
}

TEST(stream_zero_length_calls_return_zero)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char c;
	CHECK_EQ(send_buf(&p.a, "", 0, 0), 0);
	CHECK_EQ(recv_buf(&p.b, &c, 0, 0), 0); /* does not wait, as recv(fd, buf, 0) on TCP */
	CHECK_EQ(recv_buf(&p.b, &c, 1, SB_NONBLOCK), -EAGAIN);
	pair_close(&p);
}

TEST(stream_nonblocking_send_is_partial_then_eagain)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	static unsigned char buf[3 * SMALL];
	pattern_fill(1, 0, buf, sizeof buf);
	CHECK_EQ(send_buf(&p.a, buf, sizeof buf, SB_NONBLOCK), SMALL);
	CHECK_EQ(send_buf(&p.a, buf, 1, SB_NONBLOCK), -EAGAIN);
	unsigned char in[100];
	CHECK_EQ(recv_buf(&p.b, in, sizeof in, 0), 100);
	CHECK(pattern_check(1, 0, in, 100));
	CHECK_EQ(send_buf(&p.a, buf + SMALL, 2 * SMALL, SB_NONBLOCK), 100); /* exactly the room made */
	recv_pattern(&p.b, 1, 100, SMALL);
	pair_close(&p);
}

TEST(stream_nonblocking_recv_empty_is_eagain)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char c;
	CHECK_EQ(recv_buf(&p.a, &c, 1, SB_NONBLOCK), -EAGAIN);
	CHECK_EQ(recv_buf(&p.b, &c, 1, SB_NONBLOCK | SB_WAITALL), -EAGAIN);
	pair_close(&p);
}

struct reader {
	struct sb_circuit *c;
	uint64_t seed;
	size_t n;
};

static void read_pattern(void *arg)
{
	struct reader *r = arg;
	recv_pattern(r->c, r->seed, 0, r->n);
}

static void write_pattern(void *arg)
{
	struct reader *r = arg;
	send_pattern(r->c, r->seed, 0, r->n);
}

/* A blocking send on a full ring waits until the reader makes room, then completes. */
static void blocking_send_waits(bool sleeping)
{
	if (sleeping)
		setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct reader r = { &p.b, 2, 5 * SMALL + 17 };
	int64_t t0 = now_ms();
	struct delayed *d = after_ms(50, read_pattern, &r);
	send_pattern(&p.a, 2, 0, r.n);
	CHECK(now_ms() - t0 >= 45);
	thread_join(d);
	pair_close(&p);
}

TEST(stream_blocking_send_waits_for_room_spinning)
{
	blocking_send_waits(false);
}

TEST(stream_blocking_send_waits_for_room_sleeping)
{
	blocking_send_waits(true);
}

static void blocking_recv_woken(bool sleeping)
{
	if (sleeping)
		setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct reader w = { &p.a, 3, 3 * SMALL + 5 };
	int64_t t0 = now_ms();
	struct delayed *d = after_ms(50, write_pattern, &w);
	recv_pattern(&p.b, 3, 0, w.n);
	CHECK(now_ms() - t0 >= 45);
	thread_join(d);
	pair_close(&p);
}

TEST(stream_blocking_recv_woken_by_peer_spinning)
{
	blocking_recv_woken(false);
}

TEST(stream_blocking_recv_woken_by_peer_sleeping)
{
	blocking_recv_woken(true);
}

static void send_three_chunks(void *arg)
{
	struct sb_circuit *c = arg;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(send_buf(c, "xyz" + i, 1, 0), 1);
		sleep_ms(20);
	}
}

TEST(stream_waitall_waits_for_everything)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct delayed *d = after_ms(0, send_three_chunks, &p.a);
	char buf[3];
	CHECK_EQ(recv_buf(&p.b, buf, 3, SB_WAITALL), 3);
	CHECK(memcmp(buf, "xyz", 3) == 0);
	thread_join(d);
	/* Without WAITALL a read returns what is there. */
	CHECK_EQ(send_buf(&p.a, "ab", 2, 0), 2);
	CHECK_EQ(recv_buf(&p.b, buf, 3, 0), 2);
	pair_close(&p);
}

TEST(stream_peek_does_not_consume)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[16];
	CHECK_EQ(send_buf(&p.a, "0123456789", 10, 0), 10);
	CHECK_EQ(recv_buf(&p.b, buf, 4, SB_PEEK), 4);
	CHECK(memcmp(buf, "0123", 4) == 0);
	CHECK_EQ(recv_buf(&p.b, buf, 16, SB_PEEK), 10);
	CHECK_EQ(recv_buf(&p.b, buf, 3, 0), 3);
	CHECK(memcmp(buf, "012", 3) == 0);
	CHECK_EQ(recv_buf(&p.b, buf, 16, SB_PEEK | SB_NONBLOCK), 7);
	CHECK(memcmp(buf, "3456789", 7) == 0);
	CHECK_EQ(recv_buf(&p.b, buf, 16, 0), 7);
	CHECK_EQ(recv_buf(&p.b, buf, 1, SB_PEEK | SB_NONBLOCK), -EAGAIN);
	pair_close(&p);
}

TEST(stream_peek_waitall_waits_without_consuming)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct delayed *d = after_ms(0, send_three_chunks, &p.a);
	char buf[3];
	CHECK_EQ(recv_buf(&p.b, buf, 3, SB_PEEK | SB_WAITALL), 3);
	CHECK(memcmp(buf, "xyz", 3) == 0);
	thread_join(d);
	CHECK_EQ(recv_buf(&p.b, buf, 3, SB_WAITALL), 3);
	CHECK(memcmp(buf, "xyz", 3) == 0);
	pair_close(&p);
}

TEST(stream_timeouts)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct sb_wait w = timeout_ms(50);
	char c;
	int64_t t0 = now_ms();
	CHECK_EQ(recv_buf_wait(&p.b, &c, 1, 0, &w), -ETIMEDOUT);
	CHECK(now_ms() - t0 >= 45);
	/* A send that made progress before timing out reports the progress. */
	static unsigned char buf[2 * SMALL];
	t0 = now_ms();
	CHECK_EQ(send_buf_wait(&p.a, buf, sizeof buf, 0, &w), SMALL);
	CHECK(now_ms() - t0 >= 45);
	CHECK_EQ(send_buf_wait(&p.a, buf, 1, 0, &w), -ETIMEDOUT);
	/* A zero timeout never sleeps. */
	struct sb_wait zero = timeout_ms(0);
	CHECK_EQ(send_buf_wait(&p.a, buf, 1, 0, &zero), -ETIMEDOUT);
	pair_close(&p);
}

static void on_usr1(int sig)
{
	(void)sig;
}

struct kick {
	pthread_t target;
};

static void kick_usr1(void *arg)
{
	struct kick *k = arg;
	pthread_kill(k->target, SIGUSR1);
}

TEST(stream_signal_interrupts_a_wait)
{
	struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART: the wait must return EINTR */
	sigaction(SIGUSR1, &sa, NULL);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct kick k = { pthread_self() };
	char buf[4];
	struct delayed *d = after_ms(50, kick_usr1, &k);
	CHECK_EQ(recv_buf(&p.b, buf, 1, 0), -EINTR);
	thread_join(d);
	/* With progress made, the count comes back instead. */
	CHECK_EQ(send_buf(&p.a, "ab", 2, 0), 2);
	d = after_ms(50, kick_usr1, &k);
	CHECK_EQ(recv_buf(&p.b, buf, 4, SB_WAITALL), 2);
	thread_join(d);
	pair_close(&p);
}

static void send_y(void *arg)
{
	CHECK_EQ(send_buf(arg, "y", 1, 0), 1);
}

/* As recv(): SA_RESTART resumes a wait without deadline; with one (SO_RCVTIMEO), the wait fails with EINTR. */
TEST(stream_sa_restart_resumes_a_wait_without_deadline)
{
	struct sigaction sa = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
	sigaction(SIGUSR1, &sa, NULL);
	setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct kick k = { pthread_self() };
	char c;
	struct delayed *d = after_ms(30, kick_usr1, &k);
	struct delayed *e = after_ms(80, send_y, &p.a);
	CHECK_EQ(recv_buf(&p.b, &c, 1, 0), 1);
	CHECK_EQ(c, 'y');
	thread_join(d);
	thread_join(e);
	struct sb_wait w = timeout_ms(5000);
	d = after_ms(30, kick_usr1, &k);
	CHECK_EQ(recv_buf_wait(&p.b, &c, 1, 0, &w), -EINTR);
	thread_join(d);
	pair_close(&p);
}

TEST(stream_wait_applies_the_sigmask)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t block, open;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&open);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	raise(SIGUSR1); /* pending while blocked */
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char c;
	struct sb_wait blocked = { .timeout_ns = 30 * 1000000, .sigmask = NULL };
	CHECK_EQ(recv_buf_wait(&p.b, &c, 1, 0, &blocked), -ETIMEDOUT); /* still blocked: no EINTR */
	struct sb_wait unblocked = { .timeout_ns = 5000 * 1000000LL, .sigmask = &open };
	CHECK_EQ(recv_buf_wait(&p.b, &c, 1, 0, &unblocked), -EINTR); /* ppoll unblocks it atomically */
	pair_close(&p);
}

TEST(stream_wraps_around_many_times)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	static unsigned char out[3001], in[3001];
	uint64_t sent = 0, got = 0;
	for (int round = 0; round < 2000; round++) {
		size_t n = 1 + (size_t)(round * 7919) % sizeof out;
		pattern_fill(4, sent, out, n);
		ssize_t k = send_buf(&p.a, out, n, SB_NONBLOCK);
		CHECK(k > 0 || k == -EAGAIN);
		if (k > 0)
			sent += (uint64_t)k;
		size_t want = 1 + (size_t)(round * 104729) % sizeof in;
		k = recv_buf(&p.b, in, want, SB_NONBLOCK);
		CHECK(k > 0 || k == -EAGAIN);
		if (k > 0) {
			CHECK(pattern_check(4, got, in, (size_t)k));
			got += (uint64_t)k;
		}
	}
	CHECK(sent > 100 * SMALL);
	CHECK(sent - got <= SMALL);
	pair_close(&p);
}

TEST(stream_calls_on_a_datagram_circuit_fail)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	char c = 0;
	CHECK_EQ(send_buf(&p.a, &c, 1, 0), -EOPNOTSUPP);
	CHECK_EQ(recv_buf(&p.b, &c, 1, 0), -EOPNOTSUPP);
	pair_close(&p);
}

/*
 * Two threads per endpoint, each side sending and receiving at once through a
 * small ring, with spinning off so that every wait sleeps: both threads of an
 * endpoint sleep on the same fd, one for data and one for room, and neither
 * may swallow the other's doorbell (wait.c).  A lost wake-up hangs the test.
 */
struct duplex {
	struct sb_circuit *c;
	uint64_t seed;
	size_t n;
	bool sending;
};

static void *duplex_main(void *arg)
{
	struct duplex *d = arg;
	static const size_t chunk = 1500;
	unsigned char *buf = malloc(chunk);
	for (size_t done = 0; done < d->n;) {
		size_t k = d->n - done < chunk ? d->n - done : chunk;
		if (d->sending) {
			pattern_fill(d->seed, done, buf, k);
			CHECK_EQ(send_buf(d->c, buf, k, 0), (ssize_t)k);
		} else {
			ssize_t got = recv_buf(d->c, buf, k, 0);
			CHECK(got > 0);
			CHECK(pattern_check(d->seed, done, buf, (size_t)got));
			k = (size_t)got;
		}
		done += k;
	}
	free(buf);
	return NULL;
}

TEST(stream_full_duplex_threads_share_each_doorbell)
{
	setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	const size_t n = 8u << 20;
	struct duplex d[4] = {
		{ &p.a, 10, n, true },
		{ &p.b, 10, n, false },
		{ &p.b, 11, n, true },
		{ &p.a, 11, n, false },
	};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		CHECK_EQ(pthread_create(&t[i], NULL, duplex_main, &d[i]), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	pair_close(&p);
}
