/*
 * The placement probe: how far apart the two vCPUs are right now.
 *
 * Two processes bounce one cache line: the parent writes an odd value and
 * spins until the child answers with the next even one.  On these virtual
 * machines a round trip takes about 0.1 µs in one host placement and
 * 0.35–0.45 µs in the other (docs/performance.md), and cross-core
 * throughput swings with it, so every measurement is bracketed by a probe
 * and classified.  Returns the median of BATCHES batches of ROUNDS round trips.
 */
#include <stdatomic.h>

#include "bench_common.h"

#define ROUNDS 1000
#define BATCHES 60
#define WARMUP 2000

struct line {
	_Alignas(64) _Atomic uint64_t v;
	_Atomic int ready;
};

static int probe_child(void *arg)
{
	struct line *l = arg;
	uint64_t total = (uint64_t)WARMUP + (uint64_t)ROUNDS * BATCHES;
	atomic_store(&l->ready, 1);
	for (uint64_t i = 0; i < total; i++) {
		uint64_t want = 2 * i + 1;
		while (atomic_load_explicit(&l->v, memory_order_acquire) != want)
			__builtin_ia32_pause();
		atomic_store_explicit(&l->v, want + 1, memory_order_release);
	}
	return 0;
}

double probe_placement(void)
{
	struct line *l = shared_alloc(sizeof *l);
	pid_t pid = spawn(probe_child, l);
	while (!atomic_load(&l->ready))
		__builtin_ia32_pause();
	double batch[BATCHES];
	uint64_t i = 0;
	for (int b = -1; b < BATCHES; b++) {
		uint64_t n = b < 0 ? WARMUP : ROUNDS;
		uint64_t t0 = now_ns();
		for (uint64_t r = 0; r < n; r++, i++) {
			atomic_store_explicit(&l->v, 2 * i + 1, memory_order_release);
			while (atomic_load_explicit(&l->v, memory_order_acquire) != 2 * i + 2)
				__builtin_ia32_pause();
		}
		if (b >= 0)
			batch[b] = (double)(now_ns() - t0) / ROUNDS;
	}
	reap(pid, "probe child");
	return quantile(batch, BATCHES, 0.5);
}
