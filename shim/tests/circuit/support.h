/*
 * Helpers the circuit tests share: circuit pairs in one process, byte
 * patterns, and short names for the data calls.
 */
#ifndef SB_CIRCUIT_SUPPORT_H
#define SB_CIRCUIT_SUPPORT_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "check.h"
#include "circuit.h"
#include "internal.h"

/* Both endpoints of one circuit: a is the connector, b the acceptor. */
struct pair {
	struct sb_circuit a, b;
};

/* A pair of `mode` with both rings `ring_size` bytes (0: the default). */
void pair_open(struct pair *p, uint32_t mode, uint64_t ring_size);
/* Unmaps both ends and closes both endpoint fds (skipping fds already closed: -1). */
void pair_close(struct pair *p);

extern const struct sb_wait forever;
struct sb_wait timeout_ms(int64_t ms);

/* One-buffer forms of the data calls. */
ssize_t send_buf(struct sb_circuit *c, const void *buf, size_t n, unsigned flags);
ssize_t recv_buf(struct sb_circuit *c, void *buf, size_t n, unsigned flags);
ssize_t send_buf_wait(struct sb_circuit *c, const void *buf, size_t n, unsigned flags, const struct sb_wait *w);
ssize_t recv_buf_wait(struct sb_circuit *c, void *buf, size_t n, unsigned flags, const struct sb_wait *w);
ssize_t send_dgram(struct sb_circuit *c, const void *buf, size_t n, unsigned flags);
ssize_t recv_dgram(struct sb_circuit *c, void *buf, size_t n, unsigned flags, bool *truncated);

/* Byte i of test stream `seed`, and checks of a received buffer against it. */
unsigned char pattern_byte(uint64_t seed, uint64_t i);
void pattern_fill(uint64_t seed, uint64_t offset, void *buf, size_t n);
bool pattern_check(uint64_t seed, uint64_t offset, const void *buf, size_t n);

/* Sends exactly n pattern bytes (blocking) starting at stream offset `offset`. */
void send_pattern(struct sb_circuit *c, uint64_t seed, uint64_t offset, size_t n);
/* Receives exactly n bytes (blocking) and checks them against the pattern. */
void recv_pattern(struct sb_circuit *c, uint64_t seed, uint64_t offset, size_t n);

/* Milliseconds since some point; sleeping. */
int64_t now_ms(void);
void sleep_ms(int ms);

/* Runs fn(arg) on a new thread after `delay_ms`; join with thread_join. */
struct delayed;
struct delayed *after_ms(int delay_ms, void (*fn)(void *), void *arg);
void thread_join(struct delayed *d);

#endif
