/* Helpers the circuit tests share (support.h). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

const struct sb_wait forever = { .timeout_ns = -1, .sigmask = NULL };

struct sb_wait timeout_ms(int64_t ms)
{
	return (struct sb_wait){ .timeout_ns = ms * 1000000, .sigmask = NULL };
}

void pair_open(struct pair *p, uint32_t mode, uint64_t ring_size)
{
	struct sb_circuit_geometry g = { .mode = mode, .ring_size = { ring_size, ring_size } };
	memset(p, 0, sizeof *p);
	CHECK_EQ(sb_circuit_pair(&g, &p->a, &p->b, true), 0);
}

void pair_close(struct pair *p)
{
	struct sb_circuit *ends[2] = { &p->a, &p->b };
	for (int i = 0; i < 2; i++) {
		if (ends[i]->endpoint_fd >= 0)
			close(ends[i]->endpoint_fd);
		sb_circuit_detach(ends[i]);
	}
}

ssize_t send_buf_wait(struct sb_circuit *c, const void *buf, size_t n, unsigned flags, const struct sb_wait *w)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = n };
	return sb_circuit_send(c, &v, 1, flags, w);
}

ssize_t recv_buf_wait(struct sb_circuit *c, void *buf, size_t n, unsigned flags, const struct sb_wait *w)
{
	struct iovec v = { .iov_base = buf, .iov_len = n };
	return sb_circuit_recv(c, &v, 1, flags, w);
}

ssize_t send_buf(struct sb_circuit *c, const void *buf, size_t n, unsigned flags)
{
	return send_buf_wait(c, buf, n, flags, &forever);
}

ssize_t recv_buf(struct sb_circuit *c, void *buf, size_t n, unsigned flags)
{
	return recv_buf_wait(c, buf, n, flags, &forever);
}

ssize_t send_dgram(struct sb_circuit *c, const void *buf, size_t n, unsigned flags)
{
	struct iovec v = { .iov_base = (void *)buf, .iov_len = n };
	return sb_circuit_send_dgram(c, &v, 1, NULL, 0, flags, &forever);
}

ssize_t recv_dgram(struct sb_circuit *c, void *buf, size_t n, unsigned flags, bool *truncated)
{
	struct iovec v = { .iov_base = buf, .iov_len = n };
	return sb_circuit_recv_dgram(c, &v, 1, NULL, NULL, truncated, flags, &forever);
}

/* splitmix64: a different byte at every position of every stream. */
static uint64_t mix(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

unsigned char pattern_byte(uint64_t seed, uint64_t i)
{
	return (unsigned char)(mix(seed ^ (i >> 3)) >> ((i & 7) * 8));
}

void pattern_fill(uint64_t seed, uint64_t offset, void *buf, size_t n)
{
	unsigned char *p = buf;
	for (size_t i = 0; i < n; i++)
		p[i] = pattern_byte(seed, offset + i);
}

bool pattern_check(uint64_t seed, uint64_t offset, const void *buf, size_t n)
{
	const unsigned char *p = buf;
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern_byte(seed, offset + i)) {
			fprintf(stderr, "byte %llu of stream %llu: got %u, want %u\n", (unsigned long long)(offset + i),
				(unsigned long long)seed, p[i], pattern_byte(seed, offset + i));
			return false;
		}
	return true;
}

void send_pattern(struct sb_circuit *c, uint64_t seed, uint64_t offset, size_t n)
{
	unsigned char *buf = malloc(n ? n : 1);
	CHECK(buf != NULL);
	pattern_fill(seed, offset, buf, n);
	CHECK_EQ(send_buf(c, buf, n, 0), (ssize_t)n);
	free(buf);
}

void recv_pattern(struct sb_circuit *c, uint64_t seed, uint64_t offset, size_t n)
{
	unsigned char *buf = malloc(n ? n : 1);
	CHECK(buf != NULL);
	CHECK_EQ(recv_buf(c, buf, n, SB_WAITALL), (ssize_t)n);
	CHECK(pattern_check(seed, offset, buf, n));
	free(buf);
}

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

struct delayed {
	pthread_t thread;
	int delay_ms;
	void (*fn)(void *);
	void *arg;
};

static void *delayed_main(void *p)
{
	struct delayed *d = p;
	sleep_ms(d->delay_ms);
	d->fn(d->arg);
	return NULL;
}

struct delayed *after_ms(int delay_ms, void (*fn)(void *), void *arg)
{
	struct delayed *d = calloc(1, sizeof *d);
	CHECK(d != NULL);
	d->delay_ms = delay_ms;
	d->fn = fn;
	d->arg = arg;
	CHECK_EQ(pthread_create(&d->thread, NULL, delayed_main, d), 0);
	return d;
}

void thread_join(struct delayed *d)
{
	pthread_join(d->thread, NULL);
	free(d);
}
