/*
 * Zero-copy: reserve/commit and peek/release spans (across the wrap-around),
 * their limits, and the exported sb_zc_*() API over the fd table.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <switchboard/zerocopy.h>

#include "fdtab.h"
#include "support.h"

#define SMALL 4096

TEST(zc_spans_cover_the_wrap_around)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct iovec iov[2];
	int n;
	/* Move both indices to 4000 so that the free space wraps. */
	send_pattern(&p.a, 7, 0, 4000);
	recv_pattern(&p.b, 7, 0, 4000);
	CHECK_EQ(sb_circuit_reserve(&p.a, 1, iov, &n, 0, &forever), SMALL);
	CHECK_EQ(n, 2);
	CHECK_EQ(iov[0].iov_len, 96);
	CHECK_EQ(iov[1].iov_len, SMALL - 96);
	CHECK(iov[0].iov_base == p.a.tx.data + 4000 && iov[1].iov_base == p.a.tx.data);
	/* Write 200 bytes in place, across the end, and publish them. */
	pattern_fill(8, 0, iov[0].iov_base, 96);
	pattern_fill(8, 96, iov[1].iov_base, 104);
	CHECK_EQ(sb_circuit_commit(&p.a, 200), 0);
	CHECK_EQ(sb_circuit_peek(&p.b, iov, &n, 0, &forever), 200);
	CHECK_EQ(n, 2);
	CHECK_EQ(iov[0].iov_len, 96);
	CHECK(pattern_check(8, 0, iov[0].iov_base, 96));
	CHECK(pattern_check(8, 96, iov[1].iov_base, 104));
	CHECK_EQ(sb_circuit_release(&p.b, 150), 0);
	CHECK_EQ(sb_circuit_peek(&p.b, iov, &n, SB_NONBLOCK, &forever), 50);
	CHECK_EQ(n, 1);
	CHECK(pattern_check(8, 150, iov[0].iov_base, 50));
	CHECK_EQ(sb_circuit_release(&p.b, 50), 0);
	CHECK_EQ(sb_circuit_peek(&p.b, iov, &n, SB_NONBLOCK, &forever), -EAGAIN);
	pair_close(&p);
}

TEST(zc_commit_and_release_in_pieces)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct iovec iov[2];
	int n;
	CHECK_EQ(sb_circuit_reserve(&p.a, 1, iov, &n, 0, &forever), SMALL);
	unsigned char *at = iov[0].iov_base;
	/* Three messages into one reservation, each published on its own (the peer sees each as it comes). */
	for (int m = 0; m < 3; m++) {
		pattern_fill(9, (size_t)m * 64, at + m * 64, 64);
		CHECK_EQ(sb_circuit_commit(&p.a, 64), 0);
		CHECK_EQ(atomic_load(&p.a.tx.ctl->prod), (uint64_t)64 * (m + 1));
	}
	CHECK_EQ(sb_circuit_commit(&p.a, SMALL - 192 + 1), -EINVAL); /* more than is still reserved */
	CHECK_EQ(sb_circuit_commit(&p.a, 0), 0);                    /* the rest given up */
	CHECK_EQ(sb_circuit_commit(&p.a, 1), -EINVAL);
	/* Read them one by one from a single peek. */
	CHECK_EQ(sb_circuit_peek(&p.b, iov, &n, 0, &forever), 192);
	const unsigned char *from = iov[0].iov_base;
	for (int m = 0; m < 3; m++) {
		CHECK(pattern_check(9, (size_t)m * 64, from + m * 64, 64));
		CHECK_EQ(sb_circuit_release(&p.b, 64), 0);
	}
	CHECK_EQ(sb_circuit_release(&p.b, 1), -EINVAL); /* all of the peek is taken */
	CHECK_EQ(sb_circuit_peek(&p.b, iov, &n, SB_NONBLOCK, &forever), -EAGAIN);
	pair_close(&p);
}

TEST(zc_limits_and_misuse)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct iovec iov[2];
	int n;
	CHECK_EQ(sb_circuit_reserve(&p.a, SMALL + 1, iov, &n, 0, &forever), -EMSGSIZE);
	CHECK_EQ(sb_circuit_commit(&p.a, 1), -EINVAL); /* nothing reserved */
	CHECK_EQ(sb_circuit_reserve(&p.a, 0, iov, &n, 0, &forever), SMALL);
	CHECK_EQ(sb_circuit_commit(&p.a, SMALL + 1), -EINVAL);
	CHECK_EQ(sb_circuit_commit(&p.a, 0), 0); /* gives the reservation up */
	CHECK_EQ(sb_circuit_commit(&p.a, 1), -EINVAL);
	CHECK_EQ(sb_circuit_release(&p.b, 1), -EINVAL); /* nothing peeked */
	CHECK_EQ(send_buf(&p.a, "abc", 3, 0), 3);
	CHECK_EQ(sb_circuit_peek(&p.b, iov, &n, 0, &forever), 3);
	CHECK_EQ(sb_circuit_release(&p.b, 4), -EINVAL);
	/* A copy-path read ends the peek: releasing it now would release bytes nobody saw. */
	char c;
	CHECK_EQ(recv_buf(&p.b, &c, 1, 0), 1);
	CHECK_EQ(sb_circuit_release(&p.b, 1), -EINVAL);
	/* Full: a non-blocking reserve of more than is free. */
	CHECK_EQ(sb_circuit_reserve(&p.a, SMALL, iov, &n, SB_NONBLOCK, &forever), -EAGAIN);
	struct sb_wait w = timeout_ms(20);
	CHECK_EQ(sb_circuit_reserve(&p.a, SMALL, iov, &n, 0, &w), -ETIMEDOUT);
	pair_close(&p);
}

static void release_all(void *arg)
{
	struct sb_circuit *c = arg;
	struct iovec iov[2];
	int n;
	ssize_t got = sb_circuit_peek(c, iov, &n, 0, &forever);
	CHECK(got > 0);
	CHECK_EQ(sb_circuit_release(c, (size_t)got), 0);
}

TEST(zc_blocking_reserve_and_peek_are_woken)
{
	setenv("SWITCHBOARD_SPIN_NS", "0", 1);
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct iovec iov[2];
	int n;
	CHECK_EQ(sb_circuit_reserve(&p.a, SMALL, iov, &n, 0, &forever), SMALL);
	CHECK_EQ(sb_circuit_commit(&p.a, SMALL), 0);
	struct delayed *d = after_ms(50, release_all, &p.b);
	int64_t t0 = now_ms();
	CHECK_EQ(sb_circuit_reserve(&p.a, 100, iov, &n, 0, &forever), SMALL);
	CHECK(now_ms() - t0 >= 45);
	thread_join(d);
	CHECK_EQ(sb_circuit_commit(&p.a, 0), 0);
	/* peek waits for data, and reports EOF as 0 once the peer shut down writing. */
	CHECK_EQ(sb_circuit_shutdown(&p.a, SHUT_WR), 0);
	CHECK_EQ(sb_circuit_peek(&p.b, iov, &n, 0, &forever), 0);
	CHECK_EQ(n, 0);
	CHECK_EQ(sb_circuit_reserve(&p.a, 1, iov, &n, 0, &forever), -EPIPE);
	pair_close(&p);
}

TEST(zc_commit_after_our_shutdown_is_refused)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_STREAM, SMALL);
	struct iovec iov[2];
	int n;
	CHECK_EQ(sb_circuit_reserve(&p.a, 10, iov, &n, 0, &forever), SMALL);
	CHECK_EQ(sb_circuit_shutdown(&p.a, SHUT_WR), 0);
	CHECK_EQ(sb_circuit_commit(&p.a, 10), -EPIPE); /* nothing may follow FIN */
	char c;
	CHECK_EQ(recv_buf(&p.b, &c, 1, 0), 0);
	pair_close(&p);
}

TEST(zc_on_a_datagram_circuit_is_eopnotsupp)
{
	struct pair p;
	pair_open(&p, SB_CIRCUIT_DGRAM, SMALL);
	struct iovec iov[2];
	int n;
	CHECK_EQ(sb_circuit_reserve(&p.a, 1, iov, &n, 0, &forever), -EOPNOTSUPP);
	CHECK_EQ(sb_circuit_peek(&p.b, iov, &n, 0, &forever), -EOPNOTSUPP);
	pair_close(&p);
}

/* The exported API over the fd table (the shim's own copy is tested by zc_preload_test). */
TEST(zc_api_moves_bytes_through_circuit_fds)
{
	int sv[2];
	CHECK_EQ(sb_circuit_socketpair(SOCK_STREAM | SOCK_CLOEXEC, sv), 0);
	CHECK_EQ(sb_zc_is_circuit(sv[0]), 1);
	struct iovec iov[2];
	int n;
	ssize_t room = sb_zc_send_reserve(sv[0], 5, iov, &n, 0);
	CHECK(room >= 5 && n >= 1);
	memcpy(iov[0].iov_base, "hello", 5);
	CHECK_EQ(sb_zc_send_commit(sv[0], 5), 0);
	CHECK_EQ(sb_zc_recv_peek(sv[1], iov, &n, 0), 5);
	CHECK(memcmp(iov[0].iov_base, "hello", 5) == 0);
	CHECK_EQ(sb_zc_recv_release(sv[1], 5), 0);
	errno = 0;
	CHECK_EQ(sb_zc_recv_peek(sv[1], iov, &n, MSG_DONTWAIT), -1);
	CHECK_EQ(errno, EAGAIN);
	CHECK_EQ(sb_zc_recv_release(sv[1], 1), -1);
	CHECK_EQ(errno, EINVAL);
	CHECK_EQ(sb_zc_recv_peek(sv[1], iov, &n, MSG_PEEK), -1); /* unknown flags */
	CHECK_EQ(errno, EINVAL);
	/* O_NONBLOCK on the fd means non-blocking too. */
	CHECK_EQ(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
	CHECK_EQ(sb_zc_recv_peek(sv[1], iov, &n, 0), -1);
	CHECK_EQ(errno, EAGAIN);
	struct sb_circuit *c = sb_fdtab_take(sv[0]);
	sb_circuit_close(c);
	sb_circuit_detach(c);
	close(sv[0]);
	CHECK_EQ(sb_zc_recv_peek(sv[1], iov, &n, 0), 0); /* EOF */
	CHECK_EQ(sb_zc_send_reserve(sv[1], 1, iov, &n, 0), -1);
	CHECK_EQ(errno, EPIPE);
}

TEST(zc_api_on_other_fds_says_why_not)
{
	struct iovec iov[2];
	int n;
	int sv[2];
	CHECK_EQ(sb_circuit_socketpair(SOCK_DGRAM | SOCK_NONBLOCK, sv), 0);
	errno = 0;
	CHECK_EQ(sb_zc_is_circuit(sv[0]), 0);
	CHECK_EQ(errno, EOPNOTSUPP); /* a datagram circuit */
	CHECK_EQ(fcntl(sv[0], F_GETFL) & O_NONBLOCK, O_NONBLOCK);
	int pipefd[2];
	CHECK_EQ(pipe(pipefd), 0);
	CHECK_EQ(sb_zc_send_reserve(pipefd[1], 1, iov, &n, 0), -1);
	CHECK_EQ(errno, ENOTSOCK);
	int tcp = socket(AF_INET, SOCK_STREAM, 0);
	CHECK_EQ(sb_zc_recv_peek(tcp, iov, &n, 0), -1);
	CHECK_EQ(errno, EOPNOTSUPP);
	close(tcp);
	CHECK_EQ(sb_zc_send_commit(tcp, 0), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(sb_zc_recv_release(-1, 0), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(sb_circuit_socketpair(SOCK_RAW, sv), -ESOCKTNOSUPPORT);
}

TEST(fdtab_grows_and_forgets)
{
	int sv[2];
	int fds[300];
	int count = 0;
	/* Push fd numbers past the first table size. */
	for (int i = 0; i < 100; i++) {
		CHECK_EQ(sb_circuit_socketpair(SOCK_STREAM, sv), 0);
		fds[count++] = sv[0];
		fds[count++] = sv[1];
	}
	for (int i = 0; i < count; i++) {
		struct sb_circuit *c = sb_fdtab_get(fds[i]);
		CHECK(c != NULL && c->endpoint_fd == fds[i]);
	}
	CHECK(sb_fdtab_get(-1) == NULL && sb_fdtab_get(1 << 20) == NULL);
	struct sb_circuit *c = sb_fdtab_take(fds[0]);
	CHECK(c != NULL && sb_fdtab_get(fds[0]) == NULL && sb_fdtab_take(fds[0]) == NULL);
	CHECK_EQ(sb_fdtab_put(fds[1], c), -EEXIST);
	CHECK_EQ(sb_fdtab_put(fds[0], c), 0);
	CHECK(sb_fdtab_get(fds[0]) == c);
}
