/*
 * sb-bench-ring: the measurements behind `npm run bench -- ring`.
 *
 * One invocation = one measurement = one fresh process pair.  The parent makes
 * the connection, forks the two sides, waits for both and prints one JSON
 * object on stdout; run.mjs repeats, takes medians and reports.
 * See docs/performance.md for the method.
 */
#ifndef SB_BENCH_RING_H
#define SB_BENCH_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- payload.c: the same payload work for every transport ----
 * The stream is a sequence of little-endian 64-bit words, word k = k.  The
 * sender writes every byte it sends; the receiver reads every byte and checks
 * it.  `off` is the byte offset of `p` in the stream; any alignment works. */
void payload_fill(void *p, size_t len, uint64_t off);
/* Returns 0 when the bytes are what the sender wrote, nonzero otherwise. */
uint64_t payload_check(const void *p, size_t len, uint64_t off);

/* ---- bench/common: clock, errors, process pairs, quantiles, the placement probe ---- */
#include "bench_common.h"

/* ---- util.c ---- */
/* What a process has used so far: CPU time and context switches. */
struct usage {
	uint64_t user_ns, sys_ns;
	uint64_t vcsw, ivcsw; /* voluntary (it slept) and involuntary (preempted) context switches */
};
void usage_now(struct usage *u);
/* b - a */
struct usage usage_diff(const struct usage *b, const struct usage *a);

/* ---- transports ----
 * A connected pair of fds made in the parent; after fork each side keeps one.
 * Sending and receiving go through the transport's functions, so each does
 * its own natural thing (send()/recv(), sb_circuit_send/recv, or the
 * zero-copy example's in-place path). */
enum transport { T_TCP, T_UNIX, T_COPY, T_ZC, T_COUNT };

struct pair_opts {
	uint64_t ring_size;  /* circuits: 0 = the library default */
	bool nodelay;        /* TCP_NODELAY on the TCP pair */
	bool sleep;          /* circuits: no spinning before sleeping */
};

struct conn {
	enum transport t;
	int fd;
	void *circuit;       /* struct sb_circuit * for T_COPY */
	unsigned char *buf;  /* bounce buffer for the copy transports */
	size_t buf_len;
	uint64_t off;        /* stream offset sent / received so far */
	uint64_t bad;        /* accumulated payload_check() result */
	void *zc;            /* struct zcs * for T_ZC (the zero-copy example's stream) */
};

const char *transport_name(enum transport t);
int transport_parse(const char *name); /* -1 if unknown */
bool transport_available(enum transport t);
/* Makes the pair in the parent: fds[0] connects (sends first), fds[1] accepts. */
void pair_make(enum transport t, const struct pair_opts *o, int fds[2]);
/* In a child: keep side `side` (0/1), drop the other, prepare buffers for messages of up to `msg` bytes. */
void conn_open(struct conn *c, enum transport t, const struct pair_opts *o, const int fds[2], int side, size_t msg);
/* In the parent after forking both sides. */
void pair_drop(enum transport t, const int fds[2]);
/* One message of `len` bytes: filled by the sender, checked by the receiver.  Die on error. */
void conn_send(struct conn *c, size_t len);
void conn_recv(struct conn *c, size_t len);

/* kernel.c and circuit.c implement these. */
void kernel_pair(enum transport t, const struct pair_opts *o, int fds[2]);
void kernel_send(struct conn *c, size_t len);
void kernel_recv(struct conn *c, size_t len);
void circuit_pair(const struct pair_opts *o, int fds[2]);
void circuit_open(struct conn *c, const struct pair_opts *o, const int fds[2], int side);
void circuit_drop(const int fds[2]);
void circuit_send(struct conn *c, size_t len);
void circuit_recv(struct conn *c, size_t len);
void zc_conn_open(struct conn *c);
void zc_conn_send(struct conn *c, size_t len);
void zc_conn_recv(struct conn *c, size_t len);
int zc_conn_fallback(const struct conn *c); /* the errno that made it fall back to send()/recv(), or 0 */

/* ---- measurements (goodput.c, rtt.c): each prints one JSON object ---- */
struct run_opts {
	enum transport t;
	struct pair_opts pair;
	size_t msg;          /* goodput: message size */
	double duration;     /* goodput: seconds of sending */
	long iters;          /* rtt: timed round trips (after as many warm-up ones / 10) */
	bool probe;          /* bracket the measurement with placement probes */
};
int cmd_goodput(const struct run_opts *o);
int cmd_rtt(const struct run_opts *o);
/* Prints the common fields: transport, ring size, probes. */
void print_common(const struct run_opts *o, double probe_before, double probe_after);

#endif
