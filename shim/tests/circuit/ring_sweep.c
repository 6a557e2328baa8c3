/*
 * The measurement behind the default ring size (docs/circuits.md): goodput of
 * 64 KiB messages between two processes over the copy path, for ring sizes
 * from 64 KiB to 4 MiB.  The sender writes every byte of each message before
 * sending it, the receiver reads every byte it received (the same payload
 * work on both sides).  Each size runs --reps times for --seconds, sizes
 * interleaved; before each run a placement probe (a spinning cache-line
 * ping-pong between two processes) files the run under the placement it ran
 * in, since on these VMs the two CPUs' placement on the host swings
 * cross-core figures several-fold and can change in the middle of a sweep.
 * Medians are printed per placement.  Not a test (the quick ctest run only
 * keeps it working); the real benchmark is bench/ring.
 *
 *   sb_circuit_ring_sweep [--seconds S] [--reps R] [--msg BYTES] [--sizes 65536,131072,...]
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "circuit.h"

static const struct sb_wait forever = { .timeout_ns = -1, .sigmask = NULL };

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Round trips of a spinning ping-pong on one shared cache line, in ns (median of 3 x 5000). */
static double placement_probe(void)
{
	_Atomic uint64_t *line = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	const int rounds = 5000;
	double t[3];
	for (int rep = 0; rep < 3; rep++) {
		atomic_store(line, 0);
		pid_t pid = fork();
		if (pid == 0) {
			for (uint64_t i = 1; i <= 2 * (uint64_t)rounds; i += 2) {
				while (atomic_load_explicit(line, memory_order_acquire) != i)
					;
				atomic_store_explicit(line, i + 1, memory_order_release);
			}
			_exit(0);
		}
		double t0 = seconds();
		for (uint64_t i = 0; i < 2 * (uint64_t)rounds; i += 2) {
			atomic_store_explicit(line, i + 1, memory_order_release);
			while (atomic_load_explicit(line, memory_order_acquire) != i + 2)
				;
		}
		t[rep] = (seconds() - t0) / rounds * 1e9;
		waitpid(pid, NULL, 0);
	}
	munmap((void *)line, 4096);
	double lo = t[0] < t[1] ? t[0] : t[1], hi = t[0] < t[1] ? t[1] : t[0];
	return t[2] < lo ? lo : t[2] > hi ? hi : t[2];
}

/* The two CPUs' placement, from the probe: near (one cache domain), far, or a hiccup on the host. */
enum placement { NEAR, FAR, NOISY };
static const char *const placement_name[] = { "near (probe < 250 ns)", "far (probe 250-2000 ns)", "noisy (probe > 2000 ns)" };

static enum placement classify(double probe_ns)
{
	return probe_ns < 250 ? NEAR : probe_ns <= 2000 ? FAR : NOISY;
}

/* One run: Gbit/s of `msg`-byte messages through rings of `ring` bytes for `secs`. */
static double one_run(uint64_t ring, size_t msg, double secs)
{
	struct sb_circuit_geometry g = { .mode = SB_CIRCUIT_STREAM, .ring_size = { ring, ring } };
	struct sb_circuit tx, rx;
	if (sb_circuit_pair(&g, &tx, &rx, true) < 0)
		exit(1);
	int report[2];
	if (pipe(report) < 0)
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		close(tx.endpoint_fd);
		sb_circuit_detach(&tx);
		uint64_t *buf = malloc(msg), total = 0, sum = 0;
		double t0 = 0;
		for (;;) {
			struct iovec v = { buf, msg };
			ssize_t n = sb_circuit_recv(&rx, &v, 1, SB_WAITALL, &forever);
			if (n <= 0)
				break;
			if (total == 0)
				t0 = seconds();
			for (size_t i = 0; i < (size_t)n / 8; i++) /* read every byte */
				sum += buf[i];
			total += (uint64_t)n;
		}
		double gbps = (double)(total - msg) * 8 / (seconds() - t0) / 1e9;
		if (write(report[1], &gbps, sizeof gbps) < 0 || sum == 42)
			_exit(2);
		_exit(0);
	}
	close(rx.endpoint_fd);
	sb_circuit_detach(&rx);
	uint64_t *buf = malloc(msg);
	double end = seconds() + secs;
	for (uint64_t k = 0;; k++) {
		for (size_t i = 0; i < msg / 8; i++) /* write every byte */
			buf[i] = k + i;
		struct iovec v = { buf, msg };
		if (sb_circuit_send(&tx, &v, 1, 0, &forever) != (ssize_t)msg)
			exit(1);
		if ((k & 15) == 0 && seconds() > end)
			break;
	}
	sb_circuit_close(&tx);
	close(tx.endpoint_fd);
	sb_circuit_detach(&tx);
	double gbps = 0;
	if (read(report[0], &gbps, sizeof gbps) != sizeof gbps)
		gbps = -1;
	waitpid(pid, NULL, 0);
	close(report[0]);
	close(report[1]);
	free(buf);
	return gbps;
}

static int compare(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	double secs = 0.3;
	int reps = 8;
	size_t msg = 65536;
	uint64_t sizes[16] = { 65536, 131072, 262144, 524288, 1 << 20, 2 << 20, 4 << 20 };
	int nsizes = 7;
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--seconds") == 0)
			secs = atof(argv[i + 1]);
		else if (strcmp(argv[i], "--reps") == 0)
			reps = atoi(argv[i + 1]);
		else if (strcmp(argv[i], "--msg") == 0)
			msg = strtoul(argv[i + 1], NULL, 0);
		else if (strcmp(argv[i], "--sizes") == 0) {
			nsizes = 0;
			for (char *s = argv[i + 1]; *s && nsizes < 16; s++) {
				sizes[nsizes++] = strtoull(s, &s, 0);
				if (*s != ',')
					break;
			}
		}
	}
	if (reps < 1 || reps > 64)
		reps = 8;
	/* Sizes interleaved, a probe before each run: a placement change hits every size alike,
	 * and each result is filed under the placement it ran in. */
	static double result[16][3][64];
	int count[16][3] = { { 0 } };
	for (int rep = 0; rep < reps; rep++)
		for (int s = 0; s < nsizes; s++) {
			enum placement p = classify(placement_probe());
			result[s][p][count[s][p]++] = one_run(sizes[s], msg, secs);
		}
	printf("goodput in Gbit/s of %zu-byte messages, copy path, %d runs of %.2f s per ring size\n", msg, reps, secs);
	for (int p = 0; p < 3; p++) {
		int any = 0;
		for (int s = 0; s < nsizes; s++)
			any += count[s][p];
		if (any == 0)
			continue;
		printf("placement %s:\n%10s %6s %10s %10s %10s\n", placement_name[p], "ring", "runs", "median", "min", "max");
		for (int s = 0; s < nsizes; s++) {
			int n = count[s][p];
			if (n == 0)
				continue;
			qsort(result[s][p], (size_t)n, sizeof(double), compare);
			printf("%9lluK %6d %10.1f %10.1f %10.1f\n", (unsigned long long)(sizes[s] >> 10), n,
			       n % 2 ? result[s][p][n / 2] : (result[s][p][n / 2 - 1] + result[s][p][n / 2]) / 2,
			       result[s][p][0], result[s][p][n - 1]);
		}
	}
	printf("sweep done\n");
	return 0;
}
