/*
 * The circuit's tunables: the default ring size and the spin budget, each
 * read once from the environment (docs/circuits.md says why the defaults are
 * what they are).
 *
 *   SWITCHBOARD_RING_SIZE  bytes per ring, a power of two between
 *                          SB_RING_MIN_SIZE and SB_RING_MAX_SIZE; a K, M or G
 *                          suffix means KiB, MiB, GiB (e.g. 256K)
 *   SWITCHBOARD_SPIN_NS    fixed spin budget before sleeping, in ns; 0 never
 *                          spins (every wait sleeps); unset: adaptive
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

/*
 * 1 MiB per ring.  Goodput at 64 KiB messages between two processes rises
 * steeply up to 512 KiB–1 MiB and is flat or worse above (the ring no longer
 * fits the caches both CPUs share); memory is only spent as a ring is used.
 * See docs/circuits.md for the sweep.
 */
#define SB_DEFAULT_RING_SIZE (1u << 20)

/*
 * Spin budgets.  Waking a sleeper on the other CPU costs ~20 µs one way on
 * these VMs, a spinning hand-off 0.1–0.4 µs: spinning up to about the cost of
 * one sleep/wake-up can only win (the classic 2-competitive bound), so the
 * budget starts there and adapts between the two limits.
 */
#define SB_SPIN_MAX_NS 20000u
#define SB_SPIN_MIN_NS 500u

/* Writes one line to stderr without stdio (the shim may run before stdio is usable) and without its own write(). */
static void sb_warn(const char *a, const char *b, const char *c)
{
	const char *parts[] = { "switchboard: ", a, b, c, "\n" };
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
		size_t len = strlen(parts[i]);
		while (len > 0) {
			long n = sb_sys_write(STDERR_FILENO, parts[i], len);
			if (n <= 0)
				return;
			parts[i] += n;
			len -= (size_t)n;
		}
	}
}

/* Parses "<digits>[K|M|G]"; returns false on anything else or overflow. */
static bool sb_parse_size(const char *s, uint64_t *out)
{
	if (s == NULL || *s < '0' || *s > '9')
		return false;
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0)
		return false;
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift != 0)
		end++;
	if (*end != '\0' || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

static bool sb_is_ring_size(uint64_t v)
{
	return v >= SB_RING_MIN_SIZE && v <= SB_RING_MAX_SIZE && (v & (v - 1)) == 0;
}

uint64_t sb_circuit_default_ring_size(void)
{
	static _Atomic uint64_t cached; /* 0: not read yet; racing first calls compute the same value */
	uint64_t v = atomic_load_explicit(&cached, memory_order_relaxed);
	if (v != 0)
		return v;
	v = SB_DEFAULT_RING_SIZE;
	const char *env = getenv("SWITCHBOARD_RING_SIZE");
	if (env != NULL && *env != '\0') {
		int saved = errno;
		uint64_t parsed;
		if (sb_parse_size(env, &parsed) && sb_is_ring_size(parsed))
			v = parsed;
		else
			sb_warn("ignoring SWITCHBOARD_RING_SIZE=", env,
				": not a power of two between 4K and 1G (using the default, 1M)");
		errno = saved;
	}
	atomic_store_explicit(&cached, v, memory_order_relaxed);
	return v;
}

/* Spin configuration: read once.  bit 63 set = computed; bit 62 = fixed by the environment. */
#define SB_SPIN_KNOWN (UINT64_C(1) << 63)
#define SB_SPIN_FIXED (UINT64_C(1) << 62)

static uint64_t sb_spin_config(void)
{
	static _Atomic uint64_t cached;
	uint64_t v = atomic_load_explicit(&cached, memory_order_relaxed);
	if (v != 0)
		return v;
	int saved = errno;
	uint64_t budget = SB_SPIN_MAX_NS;
	uint64_t flags = SB_SPIN_KNOWN;
	const char *env = getenv("SWITCHBOARD_SPIN_NS");
	uint64_t parsed;
	if (env != NULL && *env != '\0') {
		if (sb_parse_size(env, &parsed) && parsed <= UINT32_MAX) {
			budget = parsed;
			flags |= SB_SPIN_FIXED;
		} else {
			sb_warn("ignoring SWITCHBOARD_SPIN_NS=", env, ": not a number of nanoseconds below 2^32");
		}
	}
	/* With one CPU the peer cannot run while we spin: every spin is lost time. */
	if (sysconf(_SC_NPROCESSORS_ONLN) <= 1) {
		budget = 0;
		flags |= SB_SPIN_FIXED;
	}
	errno = saved;
	v = flags | budget;
	atomic_store_explicit(&cached, v, memory_order_relaxed);
	return v;
}

uint32_t sb_spin_initial_ns(void)
{
	return (uint32_t)(sb_spin_config() & UINT32_MAX);
}

bool sb_spin_adaptive(void)
{
	return (sb_spin_config() & SB_SPIN_FIXED) == 0;
}

uint32_t sb_spin_max_ns(void)
{
	return SB_SPIN_MAX_NS;
}

uint32_t sb_spin_min_ns(void)
{
	return SB_SPIN_MIN_NS;
}

int64_t sb_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}
