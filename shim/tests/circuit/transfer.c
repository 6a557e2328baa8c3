/*
 * Two processes move a large stream over one circuit, with random write and
 * read sizes (1 byte, a few bytes, up to the ring size, and up to four times
 * larger than the ring), and the receiver compares every byte with what the
 * sender was to send.
 *
 *   sb_circuit_transfer --mode blocking|poll [--gib G | --bytes N] [--ring SIZE] [--seed S]
 *
 * blocking: plain blocking sends and receives (spinning, then sleeping).
 * poll:     non-blocking calls; on EAGAIN the side arms the circuit, sleeps
 *           in poll() on the endpoint fd, disarms and acks the doorbell, as
 *           an event loop built on sb_circuit_arm would.
 *
 * The stream is a pseudo-random pattern whose period is a prime larger than
 * any write, so a lost, repeated or reordered chunk shows up as a mismatch at
 * its exact offset.  The sender passes iovecs straight into the pattern (no
 * extra copy), the receiver memcmp()s what it got; at the end the receiver
 * reports its byte count back over the other ring.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "circuit.h"

#define PATTERN_PERIOD 16777213u /* a prime just below 16 MiB: more than 4 x the largest ring used here */

static unsigned char *pattern; /* PATTERN_PERIOD bytes, then the first MAX_IO bytes again (reads across the end) */
static size_t max_io;

struct options {
	bool poll_mode;
	uint64_t bytes;
	uint64_t ring;
	uint64_t seed;
};

struct stats {
	uint64_t calls, partial, eagain, sleeps;
};

static _Noreturn void die(const char *what, long rc)
{
	fprintf(stderr, "transfer: %s: %s (%ld)\n", what, rc < 0 ? strerror((int)-rc) : "unexpected", rc);
	exit(1);
}

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* 10%: 1 byte; 10%: 2..64; 40%: up to the ring; 40%: up to 4 x the ring. */
static size_t random_size(uint64_t *s, uint64_t ring)
{
	uint64_t r = next_random(s);
	switch (r % 10) {
	case 0:
		return 1;
	case 1:
		return 2 + (r >> 8) % 63;
	case 2:
	case 3:
	case 4:
	case 5:
		return 1 + (r >> 8) % ring;
	default:
		return 1 + (r >> 8) % (4 * ring);
	}
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Poll-driven: sleep until `events` might be possible (arm, poll the endpoint, disarm, ack). */
static void wait_for(struct sb_circuit *c, unsigned events, struct stats *st)
{
	if (sb_circuit_arm(c, events) == 0) {
		struct pollfd p = { .fd = c->endpoint_fd, .events = POLLIN };
		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll", -errno);
		st->sleeps++;
	}
	sb_circuit_disarm(c, events);
	sb_circuit_ack_doorbell(c);
}

static const struct sb_wait forever = { .timeout_ns = -1, .sigmask = NULL };

static void run_sender(struct sb_circuit *c, const struct options *o, struct stats *st)
{
	uint64_t rng = o->seed * 2 + 1, off = 0;
	unsigned flags = o->poll_mode ? SB_NONBLOCK : 0;
	while (off < o->bytes) {
		size_t n = random_size(&rng, o->ring);
		if (n > o->bytes - off)
			n = (size_t)(o->bytes - off);
		size_t at = (size_t)(off % PATTERN_PERIOD);
		struct iovec iov = { .iov_base = pattern + at, .iov_len = n };
		for (;;) {
			st->calls++;
			ssize_t k = sb_circuit_send(c, &iov, 1, flags, &forever);
			if (k == -EAGAIN) {
				st->eagain++;
				wait_for(c, POLLOUT, st);
				continue;
			}
			if (k <= 0)
				die("send", k);
			if ((size_t)k < iov.iov_len)
				st->partial++;
			off += (uint64_t)k;
			iov.iov_base = (unsigned char *)iov.iov_base + k;
			iov.iov_len -= (size_t)k;
			if (iov.iov_len == 0)
				break;
		}
	}
}

static void run_receiver(struct sb_circuit *c, const struct options *o, struct stats *st)
{
	unsigned char *buf = malloc(max_io);
	uint64_t rng = o->seed * 2 + 2, off = 0;
	unsigned base = o->poll_mode ? SB_NONBLOCK : 0;
	while (off < o->bytes) {
		size_t n = random_size(&rng, o->ring);
		unsigned flags = base | ((next_random(&rng) % 8 == 0) ? SB_WAITALL : 0);
		if (n > o->bytes - off)
			n = (size_t)(o->bytes - off);
		st->calls++;
		struct iovec iov = { .iov_base = buf, .iov_len = n };
		ssize_t k = sb_circuit_recv(c, &iov, 1, flags, &forever);
		if (k == -EAGAIN) {
			st->eagain++;
			wait_for(c, POLLIN, st);
			continue;
		}
		if (k <= 0)
			die(k == 0 ? "recv: EOF before the end" : "recv", k);
		if ((size_t)k < n)
			st->partial++;
		size_t at = (size_t)(off % PATTERN_PERIOD);
		if (memcmp(buf, pattern + at, (size_t)k) != 0) {
			for (ssize_t i = 0; i < k; i++)
				if (buf[i] != pattern[at + (size_t)i]) {
					fprintf(stderr, "transfer: byte %" PRIu64 " differs\n", off + (uint64_t)i);
					break;
				}
			exit(1);
		}
		off += (uint64_t)k;
	}
	/* Nothing after the last byte but EOF. */
	free(buf);
}

static void report(const char *side, const struct stats *st)
{
	printf("%s: %" PRIu64 " calls, %" PRIu64 " partial, %" PRIu64 " EAGAIN, %" PRIu64 " sleeps\n", side, st->calls,
	       st->partial, st->eagain, st->sleeps);
}

int main(int argc, char **argv)
{
	struct options o = { .poll_mode = false, .bytes = 10ull << 30, .ring = 0, .seed = 1 };
	for (int i = 1; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";
		if (strcmp(argv[i], "--mode") == 0 && (strcmp(v, "blocking") == 0 || strcmp(v, "poll") == 0))
			o.poll_mode = strcmp(argv[++i], "poll") == 0;
		else if (strcmp(argv[i], "--gib") == 0)
			o.bytes = strtoull(argv[++i], NULL, 0) << 30;
		else if (strcmp(argv[i], "--bytes") == 0)
			o.bytes = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--ring") == 0)
			o.ring = strtoull(argv[++i], NULL, 0);
		else if (strcmp(argv[i], "--seed") == 0)
			o.seed = strtoull(argv[++i], NULL, 0);
		else {
			fprintf(stderr, "usage: %s --mode blocking|poll [--gib G | --bytes N] [--ring SIZE] [--seed S]\n",
				argv[0]);
			return 2;
		}
	}
	if (o.ring == 0)
		o.ring = sb_circuit_default_ring_size();
	max_io = 4 * o.ring;
	if (max_io >= PATTERN_PERIOD)
		die("ring too large for the pattern", 0);
	pattern = malloc(PATTERN_PERIOD + max_io);
	uint64_t s = 0x5eed;
	for (size_t i = 0; i < PATTERN_PERIOD; i++)
		pattern[i] = (unsigned char)(next_random(&s) >> 32);
	memcpy(pattern + PATTERN_PERIOD, pattern, max_io);

	struct sb_circuit_geometry g = { .mode = SB_CIRCUIT_STREAM, .ring_size = { o.ring, o.ring } };
	struct sb_circuit sender, receiver;
	int rc = sb_circuit_pair(&g, &sender, &receiver, true);
	if (rc < 0)
		die("sb_circuit_pair", rc);
	double t0 = seconds();
	pid_t pid = fork();
	if (pid < 0)
		die("fork", -errno);
	struct stats st = { 0 };
	if (pid == 0) {
		close(sender.endpoint_fd);
		sb_circuit_detach(&sender);
		run_receiver(&receiver, &o, &st);
		char done[32];
		int len = snprintf(done, sizeof done, "%" PRIu64, o.bytes);
		struct iovec iov = { done, (size_t)len };
		if (sb_circuit_send(&receiver, &iov, 1, 0, &forever) != len)
			die("reply", 0);
		char c;
		struct iovec one = { &c, 1 };
		ssize_t eof = sb_circuit_recv(&receiver, &one, 1, 0, &forever);
		if (eof != 0)
			die("no EOF after the last byte", eof);
		report("receiver", &st);
		sb_circuit_close(&receiver);
		exit(0);
	}
	close(receiver.endpoint_fd);
	sb_circuit_detach(&receiver);
	run_sender(&sender, &o, &st);
	sb_circuit_shutdown(&sender, SHUT_WR);
	char reply[32] = { 0 };
	struct iovec iov = { reply, sizeof reply - 1 };
	ssize_t n = sb_circuit_recv(&sender, &iov, 1, SB_WAITALL, &forever);
	int status = 0;
	waitpid(pid, &status, 0);
	double dt = seconds() - t0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		die("receiver failed", 0);
	if (n <= 0 || strtoull(reply, NULL, 10) != o.bytes)
		die("receiver's count", n);
	report("sender", &st);
	printf("transfer (%s, ring %" PRIu64 " KiB): %.2f GiB verified in %.2f s, %.1f Gbit/s\n",
	       o.poll_mode ? "poll-driven" : "blocking", o.ring >> 10, (double)o.bytes / (1 << 30), dt,
	       (double)o.bytes * 8 / dt / 1e9);
	sb_circuit_close(&sender);
	return 0;
}
