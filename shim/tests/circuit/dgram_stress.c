/*
 * Datagrams between two processes: random sizes (0 bytes up to the largest
 * the ring holds, and some that can never fit), random receive buffers
 * (often shorter: truncation), each datagram checksummed on its own.
 *
 *   sb_circuit_dgram_stress [--count N] [--ring SIZE] [--seed S]
 *
 * Every datagram carries a sequence number and an FNV-1a checksum of its
 * payload in its first 16 bytes (smaller ones are all pattern), and its
 * sender address names its sequence number.  Both sides draw sizes from the
 * same seeded generator, so the receiver knows each datagram's exact length,
 * and checks: boundaries (length), order (sequence), content (checksum when it
 * got the whole datagram, pattern bytes otherwise), truncation reports, the
 * source address, and that an oversized datagram was refused with EMSGSIZE.
 */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "circuit.h"

static const struct sb_wait forever = { .timeout_ns = -1, .sigmask = NULL };

static _Noreturn void die(const char *what, uint64_t seq, long rc)
{
	fprintf(stderr, "dgram_stress: datagram %" PRIu64 ": %s (%ld%s%s)\n", seq, what, rc, rc < 0 ? " " : "",
		rc < 0 ? strerror((int)-rc) : "");
	exit(1);
}

static uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t fnv1a(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static unsigned char pattern(uint64_t seq, size_t i)
{
	return (unsigned char)((seq * 131 + i * 7) ^ (i >> 8));
}

/* The size of datagram `seq`: mostly small, some near the limit, some too large. */
static size_t dgram_size(uint64_t *rng, size_t max)
{
	uint64_t r = next_random(rng);
	switch (r % 16) {
	case 0:
		return 0;
	case 1:
		return max; /* exactly the largest */
	case 2:
		return max + 1 + (r >> 8) % 100; /* never fits: EMSGSIZE */
	case 3:
	case 4:
		return (size_t)((r >> 8) % (max + 1));
	default:
		return (size_t)((r >> 8) % 1500);
	}
}

static void fill(unsigned char *buf, uint64_t seq, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = pattern(seq, i);
	if (n >= 16) {
		memcpy(buf, &seq, 8);
		uint64_t sum = fnv1a(buf + 16, n - 16);
		memcpy(buf + 8, &sum, 8);
	}
}

static void run_sender(struct sb_circuit *c, uint64_t count, uint64_t seed, size_t max, unsigned char *buf)
{
	uint64_t rng = seed, refused = 0;
	for (uint64_t seq = 0; seq < count; seq++) {
		size_t n = dgram_size(&rng, max);
		if (n <= max)
			fill(buf, seq, n);
		struct sockaddr_in from = { .sin_family = AF_INET, .sin_port = (uint16_t)seq,
					    .sin_addr.s_addr = (uint32_t)(seq >> 16) };
		struct iovec v = { buf, n };
		ssize_t k = sb_circuit_send_dgram(c, &v, 1, (struct sockaddr *)&from, sizeof from, 0, &forever);
		if (n > max) {
			if (k != -EMSGSIZE)
				die("oversized datagram not refused with EMSGSIZE", seq, k);
			refused++;
		} else if (k != (ssize_t)n) {
			die("send", seq, k);
		}
	}
	printf("sender: %" PRIu64 " datagrams, %" PRIu64 " refused as too large\n", count, refused);
}

static void run_receiver(struct sb_circuit *c, uint64_t count, uint64_t seed, size_t max, unsigned char *buf)
{
	uint64_t rng = seed, buf_rng = seed ^ 0xfeed, got = 0, truncated = 0;
	for (uint64_t seq = 0; seq < count; seq++) {
		size_t n = dgram_size(&rng, max);
		if (n > max)
			continue; /* never sent */
		uint64_t r = next_random(&buf_rng);
		size_t cap = r % 4 == 0 ? (size_t)((r >> 8) % (n + 1)) : n + (size_t)((r >> 8) % 64);
		bool trunc = false;
		struct sockaddr_in from;
		socklen_t fromlen = sizeof from;
		struct iovec v = { buf, cap };
		ssize_t k = sb_circuit_recv_dgram(c, &v, 1, (struct sockaddr *)&from, &fromlen, &trunc, SB_TRUNC,
						  &forever);
		if (k != (ssize_t)n)
			die("wrong length (a boundary was lost)", seq, k);
		if (trunc != (cap < n))
			die("truncation not reported as it happened", seq, trunc);
		if (fromlen != sizeof from || from.sin_port != (uint16_t)seq || from.sin_addr.s_addr != (uint32_t)(seq >> 16))
			die("wrong source address", seq, fromlen);
		size_t have = cap < n ? cap : n;
		if (n >= 16 && have == n) {
			uint64_t s, sum;
			memcpy(&s, buf, 8);
			memcpy(&sum, buf + 8, 8);
			if (s != seq)
				die("out of order", seq, (long)s);
			if (sum != fnv1a(buf + 16, n - 16))
				die("checksum mismatch", seq, 0);
		} else {
			for (size_t i = n >= 16 ? 16 : 0; i < have; i++)
				if (buf[i] != pattern(seq, i))
					die("payload byte differs", seq, (long)i);
		}
		got++;
		truncated += trunc;
	}
	printf("receiver: %" PRIu64 " datagrams checked, %" PRIu64 " truncated on purpose\n", got, truncated);
}

int main(int argc, char **argv)
{
	uint64_t count = 300000, ring = 65536, seed = 42;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--count") == 0)
			count = strtoull(argv[i + 1], NULL, 0);
		else if (strcmp(argv[i], "--ring") == 0)
			ring = strtoull(argv[i + 1], NULL, 0);
		else if (strcmp(argv[i], "--seed") == 0)
			seed = strtoull(argv[i + 1], NULL, 0);
	}
	struct sb_circuit_geometry g = { .mode = SB_CIRCUIT_DGRAM, .ring_size = { ring, ring } };
	struct sb_circuit tx, rx;
	int rc = sb_circuit_pair(&g, &tx, &rx, true);
	if (rc < 0)
		die("pair", 0, rc);
	size_t max = ring - sizeof(struct sb_dgram_hdr);
	unsigned char *buf = malloc(max + 200);
	pid_t pid = fork();
	if (pid == 0) {
		close(tx.endpoint_fd);
		sb_circuit_detach(&tx);
		run_receiver(&rx, count, seed, max, buf);
		/* After the last one, the sender's close ends the stream of datagrams. */
		struct iovec v = { buf, 1 };
		ssize_t end = sb_circuit_recv_dgram(&rx, &v, 1, NULL, NULL, NULL, 0, &forever);
		if (end != 0)
			die("expected the end after the last datagram", count, end);
		exit(0);
	}
	close(rx.endpoint_fd);
	sb_circuit_detach(&rx);
	run_sender(&tx, count, seed, max, buf);
	sb_circuit_close(&tx);
	int status;
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return 1;
	printf("dgram_stress: all datagrams intact through a %" PRIu64 " KiB ring\n", ring >> 10);
	return 0;
}
