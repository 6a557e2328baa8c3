/*
 * The placement probe (design brief: the two vCPUs sit close or far apart,
 * and that swings cross-core timings): the median round trip of a cache
 * line bounced between two processes, in ns.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#define ROUNDS 1000
#define BATCHES 31

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double probe_placement_ns(void)
{
	_Atomic uint64_t *v = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (v == MAP_FAILED)
		die("mmap");
	uint64_t total = (uint64_t)ROUNDS * (BATCHES + 1);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		for (uint64_t i = 0; i < total; i++) {
			while (atomic_load_explicit(v, memory_order_acquire) != 2 * i + 1)
				__builtin_ia32_pause();
			atomic_store_explicit(v, 2 * i + 2, memory_order_release);
		}
		_exit(0);
	}
	double batch[BATCHES];
	uint64_t i = 0;
	for (int b = -1; b < BATCHES; b++) {
		uint64_t t0 = now_ns();
		for (int r = 0; r < ROUNDS; r++, i++) {
			atomic_store_explicit(v, 2 * i + 1, memory_order_release);
			while (atomic_load_explicit(v, memory_order_acquire) != 2 * i + 2)
				__builtin_ia32_pause();
		}
		if (b >= 0)
			batch[b] = (double)(now_ns() - t0) / ROUNDS;
	}
	reap(pid);
	munmap((void *)v, 4096);
	qsort(batch, BATCHES, sizeof batch[0], cmp);
	return batch[BATCHES / 2];
}
