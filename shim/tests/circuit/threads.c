/*
 * Threads on one circuit, built with -fsanitize=thread.
 *
 * Both endpoints use one mapping (the acceptor is built as the mirror of the
 * connector, see mirror()), so ThreadSanitizer sees every ring byte and index
 * at one address and checks the acquire/release pairs of ring.h: a byte read
 * before it was published, or overwritten before it was released, is
 * reported as a race.  Four threads: each endpoint sends and receives at
 * once (so the two threads of an endpoint also share its struct and its
 * doorbell fd), through the copy path, PEEK, WAITALL and the zero-copy spans.
 *
 *   sb_circuit_threads [--mib M] [--ring SIZE]
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "circuit.h"

static const struct sb_wait forever = { .timeout_ns = -1, .sigmask = NULL };

static _Noreturn void die(const char *what, long rc)
{
	fprintf(stderr, "threads: %s: %s (%ld)\n", what, rc < 0 ? strerror((int)-rc) : "unexpected", rc);
	exit(1);
}

/* The acceptor's view of the connector's mapping: the same memory at the same address. */
static void mirror(struct sb_circuit *b, const struct sb_circuit *a, int endpoint_fd)
{
	*b = (struct sb_circuit){
		.shm = a->shm,
		.map_len = a->map_len,
		.endpoint_fd = endpoint_fd,
		.mode = a->mode,
		.role = SB_ROLE_ACCEPTOR,
		.tx = a->rx,
		.rx = a->tx,
	};
	struct sb_ring_end *ends[2] = { &b->tx, &b->rx };
	for (int i = 0; i < 2; i++)
		ends[i]->local = ends[i]->cached_peer = ends[i]->span = ends[i]->peer_state = 0;
}

static unsigned char byte_at(uint64_t seed, uint64_t i)
{
	uint64_t x = (i >> 3) * 0x9e3779b97f4a7c15ull ^ seed;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ull;
	return (unsigned char)(x >> (8 * (i & 7)));
}

struct job {
	struct sb_circuit *c;
	uint64_t seed, bytes;
	bool sending;
};

static void *sender(void *arg)
{
	struct job *j = arg;
	unsigned char *buf = malloc(70000);
	uint64_t off = 0, r = j->seed;
	while (off < j->bytes) {
		r = r * 6364136223846793005ull + 1;
		size_t n = 1 + (r >> 33) % 70000;
		if (n > j->bytes - off)
			n = (size_t)(j->bytes - off);
		if ((r >> 20) % 4 == 0) { /* zero-copy: write straight into the ring */
			struct iovec iov[2];
			int cnt;
			ssize_t room = sb_circuit_reserve(j->c, 1, iov, &cnt, 0, &forever);
			if (room <= 0)
				die("reserve", room);
			size_t k = n < (size_t)room ? n : (size_t)room, done = 0;
			for (int s = 0; s < cnt && done < k; s++)
				for (size_t i = 0; i < iov[s].iov_len && done < k; i++, done++)
					((unsigned char *)iov[s].iov_base)[i] = byte_at(j->seed, off + done);
			int rc = sb_circuit_commit(j->c, k);
			if (rc < 0)
				die("commit", rc);
			off += k;
			continue;
		}
		for (size_t i = 0; i < n; i++)
			buf[i] = byte_at(j->seed, off + i);
		struct iovec v = { buf, n };
		ssize_t k = sb_circuit_send(j->c, &v, 1, 0, &forever);
		if (k != (ssize_t)n)
			die("send", k);
		off += n;
	}
	free(buf);
	return NULL;
}

static void *receiver(void *arg)
{
	struct job *j = arg;
	unsigned char *buf = malloc(70000);
	uint64_t off = 0, r = j->seed ^ 0xabc;
	while (off < j->bytes) {
		r = r * 6364136223846793005ull + 1;
		size_t n = 1 + (r >> 33) % 70000;
		if (n > j->bytes - off)
			n = (size_t)(j->bytes - off);
		unsigned kind = (unsigned)(r >> 20) % 4;
		if (kind == 0) { /* zero-copy: read in place */
			struct iovec iov[2];
			int cnt;
			ssize_t avail = sb_circuit_peek(j->c, iov, &cnt, 0, &forever);
			if (avail <= 0)
				die("peek", avail);
			size_t k = n < (size_t)avail ? n : (size_t)avail, done = 0;
			for (int s = 0; s < cnt && done < k; s++)
				for (size_t i = 0; i < iov[s].iov_len && done < k; i++, done++)
					if (((unsigned char *)iov[s].iov_base)[i] != byte_at(j->seed, off + done))
						die("peeked byte differs", 0);
			int rc = sb_circuit_release(j->c, k);
			if (rc < 0)
				die("release", rc);
			off += k;
			continue;
		}
		unsigned flags = kind == 1 ? SB_PEEK : kind == 2 ? SB_WAITALL : 0;
		struct iovec v = { buf, n };
		ssize_t k = sb_circuit_recv(j->c, &v, 1, flags, &forever);
		if (k <= 0)
			die("recv", k);
		for (ssize_t i = 0; i < k; i++)
			if (buf[i] != byte_at(j->seed, off + (uint64_t)i))
				die("byte differs", 0);
		if (flags != SB_PEEK)
			off += (uint64_t)k;
	}
	free(buf);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t bytes = 32ull << 20, ring = 65536;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--mib") == 0)
			bytes = strtoull(argv[i + 1], NULL, 0) << 20;
		else if (strcmp(argv[i], "--ring") == 0)
			ring = strtoull(argv[i + 1], NULL, 0);
	}
	struct sb_circuit_geometry g = { .mode = SB_CIRCUIT_STREAM, .ring_size = { ring, ring } };
	int memfd = sb_circuit_create(&g);
	int sv[2];
	if (memfd < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("create", memfd);
	struct sb_circuit a, b;
	int rc = sb_circuit_attach(&a, memfd, sv[0], SB_ROLE_CONNECTOR);
	if (rc < 0)
		die("attach", rc);
	close(memfd);
	mirror(&b, &a, sv[1]);

	struct job jobs[4] = {
		{ &a, 0x1111, bytes, true },
		{ &b, 0x1111, bytes, false },
		{ &b, 0x2222, bytes, true },
		{ &a, 0x2222, bytes, false },
	};
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, jobs[i].sending ? sender : receiver, &jobs[i]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);

	/* Close: the other side sees EOF after everything. */
	sb_circuit_close(&a);
	char c;
	struct iovec one = { &c, 1 };
	ssize_t eof = sb_circuit_recv(&b, &one, 1, 0, &forever);
	if (eof != 0)
		die("EOF", eof);
	sb_circuit_detach(&a);
	printf("threads: %llu MiB each way through a %llu KiB ring, 4 threads, verified\n",
	       (unsigned long long)(bytes >> 20), (unsigned long long)(ring >> 10));
	return 0;
}
