/*
 * Round-trip time: the client sends 1 byte, the server receives it and sends
 * 1 byte back, the client receives it; every round trip is timed on its own
 * (CLOCK_MONOTONIC through the vDSO, about 20 ns per reading, included).
 * Each side uses its transport's blocking send and receive; circuits spin
 * before sleeping unless --sleep turned the spinning off.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench.h"

struct shared {
	double median_ns, p99_ns, p1_ns, mean_ns;
	struct usage use[2];
	int cpu[2];
	uint64_t bad[2];
	_Atomic int client_done;
};

struct child_arg {
	const struct run_opts *o;
	int fds[2];
	int side;
	struct shared *sh;
};

static int side_main(void *arg)
{
	struct child_arg *a = arg;
	struct conn c;
	conn_open(&c, a->o->t, &a->o->pair, a->fds, a->side, 1);
	long warm = a->o->iters / 10, total = warm + a->o->iters;
	double *rt = a->side == 0 ? malloc(sizeof(double) * (size_t)a->o->iters) : NULL;
	if (a->side == 0 && !rt)
		die("malloc");
	struct usage u0, u1;
	usage_now(&u0);
	for (long i = 0; i < total; i++) {
		if (a->side == 0) {
			uint64_t t0 = now_ns();
			conn_send(&c, 1);
			conn_recv(&c, 1);
			if (i >= warm)
				rt[i - warm] = (double)(now_ns() - t0);
		} else {
			conn_recv(&c, 1);
			conn_send(&c, 1);
		}
	}
	usage_now(&u1);
	a->sh->use[a->side] = usage_diff(&u1, &u0);
	a->sh->cpu[a->side] = sched_getcpu();
	if (a->side == 0) {
		double sum = 0;
		for (long i = 0; i < a->o->iters; i++)
			sum += rt[i];
		a->sh->mean_ns = sum / (double)a->o->iters;
		a->sh->median_ns = quantile(rt, (size_t)a->o->iters, 0.5); /* sorts */
		a->sh->p99_ns = rt[(size_t)((double)a->o->iters * 0.99)];
		a->sh->p1_ns = rt[(size_t)((double)a->o->iters * 0.01)];
		a->sh->bad[a->side] = c.bad;
		atomic_store(&a->sh->client_done, 1);
	} else {
		a->sh->bad[a->side] = c.bad;
		/* Stay until the client has its last byte: our exit must not race it. */
		while (!atomic_load(&a->sh->client_done))
			usleep(1000);
	}
	return 0;
}

int cmd_rtt(const struct run_opts *o)
{
	double before = o->probe ? probe_placement() : 0;
	struct shared *sh = shared_alloc(sizeof *sh);
	struct child_arg a = { .o = o, .sh = sh };
	pair_make(o->t, &o->pair, a.fds);
	pid_t pid[2];
	for (a.side = 0; a.side < 2; a.side++)
		pid[a.side] = spawn(side_main, &a);
	pair_drop(o->t, a.fds);
	reap(pid[0], "client");
	reap(pid[1], "server");
	double after = o->probe ? probe_placement() : 0;
	if (sh->bad[0] || sh->bad[1])
		dief("%s: round-trip bytes corrupted", transport_name(o->t));
	double rts = (double)(o->iters + o->iters / 10);
	printf("{\"kind\":\"rtt\",");
	print_common(o, before, after);
	printf(",\"iters\":%ld,\"median_ns\":%.1f,\"p99_ns\":%.1f,\"p1_ns\":%.1f,\"mean_ns\":%.1f,"
	       "\"cpu_ns_per_rtt\":%.1f,\"sleeps_per_rtt\":%.3f,\"cpus\":[%d,%d]}\n",
	       o->iters, sh->median_ns, sh->p99_ns, sh->p1_ns, sh->mean_ns,
	       (double)(sh->use[0].user_ns + sh->use[0].sys_ns + sh->use[1].user_ns + sh->use[1].sys_ns) / rts,
	       (double)(sh->use[0].vcsw + sh->use[1].vcsw) / rts, sh->cpu[0], sh->cpu[1]);
	return 0;
}
