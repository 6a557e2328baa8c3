/*
 * Goodput: the sender sends messages of one size for a fixed time, the
 * receiver receives them whole (each transport's natural blocking receive of
 * exactly one message); both do the payload work on every byte.
 *
 * The sender decides when to stop: at the deadline it announces the final
 * stream length in shared memory *before* sending its last message, so the
 * receiver, which compares its count with that after every message, stops
 * exactly there and never waits for bytes that will not come.  Goodput is the
 * bytes received over the receiver's time from "go" to the last byte; CPU
 * time is each side's getrusage() over its own timed part.
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "bench.h"

struct side_result {
	struct usage use;
	uint64_t bytes, end_ns, bad;
	int fallback, cpu;
};

struct shared {
	_Alignas(64) _Atomic uint64_t stop_at; /* final stream length, 0 until the sender knows it */
	_Alignas(64) uint64_t go_ns;
	struct side_result side[2];
	_Atomic int receiver_done;
};

struct child_arg {
	const struct run_opts *o;
	int fds[2];
	int side;
	int ready_w, go_r;
	struct shared *sh;
};

/* Tell the parent we are set up, then wait for the start. */
static void sync_start(struct child_arg *a)
{
	char b = 0;
	if (write(a->ready_w, &b, 1) != 1 || read(a->go_r, &b, 1) != 1)
		die("start pipe");
}

static int sender(void *arg)
{
	struct child_arg *a = arg;
	struct conn c;
	conn_open(&c, a->o->t, &a->o->pair, a->fds, 0, a->o->msg);
	sync_start(a);
	struct usage u0, u1;
	usage_now(&u0);
	uint64_t deadline = a->sh->go_ns + (uint64_t)(a->o->duration * 1e9);
	/* Look at the clock about every 256 KiB, not every message. */
	uint64_t every = a->o->msg >= 262144 ? 1 : 262144 / a->o->msg, n = 0;
	for (;;) {
		if (++n % every == 0 && now_ns() >= deadline) {
			atomic_store_explicit(&a->sh->stop_at, c.off + a->o->msg, memory_order_release);
			conn_send(&c, a->o->msg);
			break;
		}
		conn_send(&c, a->o->msg);
	}
	usage_now(&u1);
	a->sh->side[0] = (struct side_result){ usage_diff(&u1, &u0), c.off, now_ns(), 0, zc_conn_fallback(&c), sched_getcpu() };
	/* Keep our end open until the receiver has everything. */
	while (!atomic_load(&a->sh->receiver_done))
		usleep(1000);
	return 0;
}

static int receiver(void *arg)
{
	struct child_arg *a = arg;
	struct conn c;
	conn_open(&c, a->o->t, &a->o->pair, a->fds, 1, a->o->msg);
	sync_start(a);
	struct usage u0, u1;
	usage_now(&u0);
	do
		conn_recv(&c, a->o->msg);
	while (c.off != atomic_load_explicit(&a->sh->stop_at, memory_order_acquire));
	uint64_t end = now_ns();
	usage_now(&u1);
	a->sh->side[1] = (struct side_result){ usage_diff(&u1, &u0), c.off, end, c.bad, zc_conn_fallback(&c), sched_getcpu() };
	atomic_store(&a->sh->receiver_done, 1);
	return 0;
}

int cmd_goodput(const struct run_opts *o)
{
	double before = o->probe ? probe_placement() : 0;
	struct shared *sh = shared_alloc(sizeof *sh);
	int ready[2], go[2];
	if (pipe(ready) < 0 || pipe(go) < 0)
		die("pipe");
	struct child_arg a = { .o = o, .ready_w = ready[1], .go_r = go[0], .sh = sh };
	pair_make(o->t, &o->pair, a.fds);
	pid_t pid[2];
	for (a.side = 0; a.side < 2; a.side++)
		pid[a.side] = spawn(a.side == 0 ? sender : receiver, &a);
	pair_drop(o->t, a.fds);
	char b;
	for (int n = 0; n < 2; n++)
		if (read(ready[0], &b, 1) != 1)
			dief("a side failed to start");
	sh->go_ns = now_ns();
	if (write(go[1], "gg", 2) != 2)
		die("go");
	reap(pid[0], "sender");
	reap(pid[1], "receiver");
	double after = o->probe ? probe_placement() : 0;

	struct side_result *s = &sh->side[0], *r = &sh->side[1];
	if (r->bad || r->bytes != s->bytes)
		dief("%s: payload corrupted or lost (%llu sent, %llu received)", transport_name(o->t),
		     (unsigned long long)s->bytes, (unsigned long long)r->bytes);
	if (s->fallback || r->fallback)
		dief("zerocopy: the zero-copy calls refused a circuit fd");
	double secs = (double)(r->end_ns - sh->go_ns) / 1e9;
	double cpu = (double)(s->use.user_ns + s->use.sys_ns + r->use.user_ns + r->use.sys_ns) / 1e9;
	double gib = (double)r->bytes / (1024.0 * 1024 * 1024);
	printf("{\"kind\":\"goodput\",");
	print_common(o, before, after);
	printf(",\"msg\":%zu,\"bytes\":%llu,\"seconds\":%.6f,\"gbps\":%.3f,\"cpu_s_per_gib\":%.4f,", o->msg,
	       (unsigned long long)r->bytes, secs, (double)r->bytes * 8 / secs / 1e9, cpu / gib);
	for (int i = 0; i < 2; i++) {
		struct side_result *x = &sh->side[i];
		printf("\"%s\":{\"user_ns\":%llu,\"sys_ns\":%llu,\"sleeps\":%llu,\"preempted\":%llu,\"cpu\":%d}%s",
		       i ? "receiver" : "sender", (unsigned long long)x->use.user_ns, (unsigned long long)x->use.sys_ns,
		       (unsigned long long)x->use.vcsw, (unsigned long long)x->use.ivcsw, x->cpu, i ? "}\n" : ",");
	}
	return 0;
}
