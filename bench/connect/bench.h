/*
 * sb-bench-connect: connect + accept + first byte + close, repeated, between
 * two processes — over TCP on loopback, or over circuits granted by a running
 * switch operator.  run.mjs drives it (npm run bench -- connect); see
 * docs/performance.md.
 */
#ifndef SB_BENCH_CONNECT_H
#define SB_BENCH_CONNECT_H

#include <stdint.h>
#include <sys/types.h>

/* One measured run: `iterations` connections in batches of `batch`. */
struct run_spec {
	unsigned iterations;
	unsigned batch;
	unsigned warmup;
	uint16_t port;
	const char *socket_path; /* circuit mode: the tenant's control socket */
	int closed_notices;      /* circuit mode: send `closed` notices too */
	int phases;              /* circuit mode: also print the median of each phase of a connection */
};

/* Per-connection times of each batch's mean, in ns; returns the count. */
typedef unsigned (*run_fn)(const struct run_spec *spec, double *batch_ns, unsigned max_batches);

unsigned run_tcp(const struct run_spec *spec, double *batch_ns, unsigned max_batches);
unsigned run_circuit(const struct run_spec *spec, double *batch_ns, unsigned max_batches);

/* Clock, errors, reap(), quantiles and the placement probe. */
#include "bench_common.h"

/* The server side runs in a child; ready_fd is written once it accepts. */
pid_t start_server(void (*serve)(const struct run_spec *spec, int ready_fd), const struct run_spec *spec);
void wait_ready(int fd);

#endif
