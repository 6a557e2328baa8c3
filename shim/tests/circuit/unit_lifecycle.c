/*
 * The connection's life: half-close each way, EOF after the last byte, EPIPE,
 * close (FIN, or reset with unread bytes), abortive reset, and the peer's
 * death (fork + kill), each as Linux TCP behaves.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#define SMALL 4096

TEST(life_shut_wr_gives_the_peer_eof_after_the_data)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	CHECK_EQ(send_buf(&p.a, "abc", 3, 0), 3);
	CHECK_EQ(sb_circuit_shutdown(&p.a, SHUT_WR), 0);
	CHECK_EQ(send_buf(&p.a, "d", 1, 0), -EPIPE);
	CHECK_EQ(recv_buf(&p.b, buf, sizeof buf, 0), 3);
	CHECK_EQ(recv_buf(&p.b, buf, sizeof buf, 0), 0);
	CHECK_EQ(recv_buf(&p.b, buf, sizeof buf, SB_NONBLOCK), 0);
	CHECK_EQ(recv_buf(&p.b, buf, sizeof buf, SB_WAITALL), 0);
	CHECK(sb_circuit_poll(&p.b) & POLLRDHUP);
	/* The other direction still works: a half-close. */
	CHECK_EQ(send_buf(&p.b, "back", 4, 0), 4);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 4);
	CHECK(memcmp(buf, "back", 4) == 0);
	pair_close(&p);
}

static void send_then_shut(void *arg)
{
	struct sb_circuit *c = arg;
	send_pattern(c, 5, 0, 10 * SMALL + 3);
	CHECK_EQ(sb_circuit_shutdown(c, SHUT_WR), 0);
}

TEST(life_eof_comes_only_after_the_last_byte)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct delayed *d = after_ms(0, send_then_shut, &p.a);
	static unsigned char buf[11 * SMALL];
	size_t got = 0;
	for (;;) {
		ssize_t n = recv_buf(&p.b, buf + got, sizeof buf - got, 0);
		CHECK(n >= 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	CHECK_EQ(got, 10 * SMALL + 3);
	CHECK(pattern_check(5, 0, buf, got));
	thread_join(d);
	pair_close(&p);
}

TEST(life_shut_rd_is_local_queued_bytes_then_eof)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	CHECK_EQ(send_buf(&p.b, "queued", 6, 0), 6);
	CHECK_EQ(sb_circuit_shutdown(&p.a, SHUT_RD), 0);
	CHECK(sb_circuit_poll(&p.a) & POLLRDHUP);
	CHECK_EQ(recv_buf(&p.a, buf, 3, 0), 3);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, SB_WAITALL), 3);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 0); /* never blocks now */
	/* The peer is not told (TCP sends nothing): its sends still succeed, and arrive. */
	CHECK_EQ(send_buf(&p.b, "more", 4, SB_NONBLOCK), 4);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 4);
	/* Our own sending side is untouched. */
	CHECK_EQ(send_buf(&p.a, "ok", 2, 0), 2);
	CHECK_EQ(recv_buf(&p.b, buf, sizeof buf, 0), 2);
	pair_close(&p);
}

TEST(life_shut_rdwr_and_bad_how)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char c;
	CHECK_EQ(sb_circuit_shutdown(&p.a, 42), -EINVAL);
	CHECK_EQ(sb_circuit_shutdown(&p.a, SHUT_RDWR), 0);
	CHECK_EQ(sb_circuit_shutdown(&p.a, SHUT_RDWR), 0); /* again: nothing changes */
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -EPIPE);
	CHECK_EQ(recv_buf(&p.a, &c, 1, 0), 0);
	CHECK_EQ(recv_buf(&p.b, &c, 1, 0), 0);
	unsigned ev = sb_circuit_poll(&p.a);
	CHECK((ev & (POLLHUP | POLLIN | POLLOUT)) == (POLLHUP | POLLIN | POLLOUT));
	pair_close(&p);
}

TEST(life_close_sends_fin_and_the_peer_gets_epipe)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	CHECK_EQ(send_buf(&p.b, "last", 4, 0), 4);
	sb_circuit_close(&p.b);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 4);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 0);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -EPIPE);
	CHECK(sb_circuit_poll(&p.a) & POLLOUT); /* a write would not block: it fails */
	pair_close(&p);
}

TEST(life_close_with_unread_bytes_resets)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char buf[8];
	CHECK_EQ(send_buf(&p.b, "hi", 2, 0), 2);      /* b -> a, sent before the reset */
	CHECK_EQ(send_buf(&p.a, "unread", 6, 0), 6);  /* a -> b, never read */
	sb_circuit_close(&p.b);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -ECONNRESET);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 2); /* queued bytes first, as Linux */
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), -ECONNRESET);
	CHECK(sb_circuit_poll(&p.a) & POLLERR);
	pair_close(&p);
}

TEST(life_reset_is_econnreset_for_both)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char c;
	sb_circuit_reset(&p.a);
	CHECK_EQ(recv_buf(&p.b, &c, 1, 0), -ECONNRESET);
	CHECK_EQ(send_buf(&p.b, "x", 1, 0), -ECONNRESET);
	CHECK_EQ(recv_buf(&p.a, &c, 1, 0), -ECONNRESET);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -ECONNRESET);
	CHECK((sb_circuit_poll(&p.b) & (POLLERR | POLLHUP)) == (POLLERR | POLLHUP));
	pair_close(&p);
}

static void close_endpoint(void *arg)
{
	sb_circuit_close(arg);
}

static void reset_endpoint(void *arg)
{
	sb_circuit_reset(arg);
}

TEST(life_close_wakes_a_blocked_reader)
{
	setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	char c;
	struct delayed *d = after_ms(50, close_endpoint, &p.a);
	CHECK_EQ(recv_buf(&p.b, &c, 1, 0), 0);
	thread_join(d);
	pair_close(&p);
}

TEST(life_reset_wakes_a_blocked_writer)
{
	setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	static unsigned char buf[2 * SMALL];
	struct delayed *d = after_ms(50, reset_endpoint, &p.a);
	CHECK_EQ(send_buf(&p.b, buf, sizeof buf, 0), SMALL); /* the progress made */
	CHECK_EQ(send_buf(&p.b, buf, 1, 0), -ECONNRESET);
	thread_join(d);
	pair_close(&p);
}

/*
 * The peer as a child process holding endpoint b; it does `what`, says so on
 * a pipe, and waits to be killed.
 */
enum child_does { CHILD_READS_ALL_AND_REPLIES, CHILD_READS_NOTHING_AND_REPLIES, CHILD_IDLES };

static pid_t spawn_peer(struct pair *p, enum child_does what, size_t expect)
{
	int ready[2];
	CHECK_EQ(pipe(ready), 0);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(ready[0]);
		close(p->a.endpoint_fd);
		if (what == CHILD_READS_ALL_AND_REPLIES)
			recv_pattern(&p->b, 6, 0, expect);
		if (what != CHILD_IDLES)
			CHECK_EQ(send_buf(&p->b, "bye", 3, 0), 3);
		CHECK_EQ(write(ready[1], "r", 1), 1);
		for (;;)
			pause();
	}
	close(ready[1]);
	close(p->b.endpoint_fd);
	p->b.endpoint_fd = -1;
	char r;
	CHECK_EQ(read(ready[0], &r, 1), 1);
	close(ready[0]);
	return pid;
}

static void kill_peer(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST(life_peer_death_after_reading_all_is_data_then_eof)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	send_pattern(&p.a, 6, 0, 100);
	pid_t pid = spawn_peer(&p, CHILD_READS_ALL_AND_REPLIES, 100);
	kill_peer(pid);
	char buf[8];
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 3);
	CHECK(memcmp(buf, "bye", 3) == 0);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 0);
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, SB_NONBLOCK), 0);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -EPIPE);
	pair_close(&p);
}

TEST(life_peer_death_with_our_bytes_unread_is_econnreset)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	send_pattern(&p.a, 6, 0, 100);
	pid_t pid = spawn_peer(&p, CHILD_READS_NOTHING_AND_REPLIES, 0);
	kill_peer(pid);
	char buf[8];
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), 3); /* what it sent before dying comes first */
	CHECK_EQ(recv_buf(&p.a, buf, sizeof buf, 0), -ECONNRESET);
	CHECK_EQ(send_buf(&p.a, "x", 1, 0), -ECONNRESET);
	pair_close(&p);
}

TEST(life_peer_death_wakes_a_blocked_reader)
{
	setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	pid_t pid = spawn_peer(&p, CHILD_IDLES, 0);
	pid_t killer = fork();
	if (killer == 0) {
		sleep_ms(50);
		kill(pid, SIGKILL);
		_exit(0);
	}
	char c;
	int64_t t0 = now_ms();
	CHECK_EQ(recv_buf(&p.a, &c, 1, 0), 0);
	CHECK(now_ms() - t0 >= 45);
	waitpid(killer, NULL, 0);
	waitpid(pid, NULL, 0);
	pair_close(&p);
}

TEST(life_peer_death_wakes_a_blocked_writer)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	pid_t pid = spawn_peer(&p, CHILD_IDLES, 0);
	pid_t killer = fork();
	if (killer == 0) {
		sleep_ms(50);
		kill(pid, SIGKILL);
		_exit(0);
	}
	static unsigned char buf[2 * SMALL];
	CHECK_EQ(send_buf(&p.a, buf, sizeof buf, 0), SMALL);
	CHECK_EQ(send_buf(&p.a, buf, 1, 0), -ECONNRESET); /* it died with SMALL bytes of ours unread */
	waitpid(killer, NULL, 0);
	waitpid(pid, NULL, 0);
	pair_close(&p);
}

TEST(life_nonblocking_calls_notice_death_instead_of_eagain)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	static unsigned char buf[SMALL];
	CHECK_EQ(send_buf(&p.a, buf, sizeof buf, SB_NONBLOCK), SMALL); /* full */
	pid_t pid = spawn_peer(&p, CHILD_IDLES, 0);
	kill_peer(pid);
	CHECK_EQ(send_buf(&p.a, buf, 1, SB_NONBLOCK), -ECONNRESET);
	CHECK_EQ(recv_buf(&p.a, buf, 1, SB_NONBLOCK), -ECONNRESET);
	CHECK(sb_circuit_poll(&p.a) & POLLERR);
	pair_close(&p);
}

TEST(life_poll_path_notices_death_through_the_doorbell)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	pid_t pid = spawn_peer(&p, CHILD_IDLES, 0);
	CHECK_EQ(sb_circuit_arm(&p.a, POLLIN), 0);
	kill_peer(pid);
	struct pollfd pfd = { .fd = p.a.endpoint_fd, .events = POLLIN };
	CHECK_EQ(poll(&pfd, 1, 5000), 1);
	CHECK(pfd.revents & POLLHUP);
	sb_circuit_disarm(&p.a, POLLIN);
	CHECK(sb_circuit_ack_doorbell(&p.a));
	unsigned ev = sb_circuit_poll(&p.a);
	CHECK((ev & (POLLIN | POLLRDHUP)) == (POLLIN | POLLRDHUP));
	char c;
	CHECK_EQ(recv_buf(&p.a, &c, 1, 0), 0);
	pair_close(&p);
}
