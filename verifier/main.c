/*
 * sb-verify: runs every generated sequence, each in a fresh child process in
 * its own network namespace, and prints a conformance table per socket type
 * and one summary line:
 *
 *   verifier: N sequences, A agree, D disagree
 *
 * The kernel column (default) runs the sequences on the kernel's sockets, so
 * it checks the spec against Linux.  The circuit column (--circuits) runs
 * them again with the shim preloaded, so it checks the shim against the spec.
 *
 * Usage: sb-verify [--circuits] [--shim PATH] [--jobs N] [--machine NAME]
 *                  [--from N] [--limit N] [--seq N [--trace]] [--list] [--show N] [--quiet]
 *
 * --show N prints the first N disagreements in full (default 1).
 */
#include "verifier.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SEQUENCE_TIMEOUT_MS 20000
#define MAX_JOBS 64
#define OUTPUT_MAX 8192

enum verdict { PENDING, AGREE, DISAGREE, HARNESS };

struct options {
	bool circuits;
	const char *shim;
	unsigned jobs;
	const char *machine;
	long limit;
	long from;       /* the first sequence to run */
	long only;
	bool trace;
	bool list;
	bool quiet;
	unsigned show; /* disagreements to print in full */
	/* Circuit column: sequence i talks to the operator through tenant i % tenants, whose
	 * control socket is tenant_socket with %u replaced by that number (each tenant is its own
	 * address space, as each kernel-column sequence has its own network namespace). */
	const char *tenant_socket;
	unsigned tenants;
};

struct job {
	unsigned runs; /* sequences this slot has run */
	pid_t pid;
	int fd;
	unsigned index;
	long long started_ms;
	size_t len;
	char out[OUTPUT_MAX];
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: sb-verify [--circuits] [--shim PATH] [--jobs N] [--machine stream|dgram]\n"
		   "                 [--from N] [--limit N] [--seq N [--trace]] [--list] [--show N] [--quiet]\n"
		   "                 [--tenant-socket FMT --tenants N]   (circuit column)\n");
}

static bool parse(int argc, char **argv, struct options *o, long *child)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	o->jobs = (unsigned)(cpus > 0 ? cpus * 2 + 2 : 4);
	o->limit = -1;
	o->only = -1;
	o->show = 1;
	*child = -1;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--circuits")) {
			o->circuits = true;
		} else if (!strcmp(a, "--shim") && next) {
			o->shim = argv[++i];
		} else if (!strcmp(a, "--jobs") && next) {
			o->jobs = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--machine") && next) {
			o->machine = argv[++i];
		} else if (!strcmp(a, "--from") && next) {
			o->from = strtol(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--limit") && next) {
			o->limit = strtol(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--seq") && next) {
			o->only = strtol(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--child") && next) {
			*child = strtol(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--trace")) {
			o->trace = true;
		} else if (!strcmp(a, "--list")) {
			o->list = true;
		} else if (!strcmp(a, "--tenant-socket") && next) {
			o->tenant_socket = argv[++i];
		} else if (!strcmp(a, "--tenants") && next) {
			o->tenants = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--show") && next) {
			o->show = (unsigned)strtoul(argv[++i], NULL, 10);
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = true;
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else {
			fprintf(stderr, "sb-verify: unknown argument '%s'\n", a);
			usage(stderr);
			return false;
		}
	}
	if (o->jobs < 1)
		o->jobs = 1;
	if (o->jobs > MAX_JOBS)
		o->jobs = MAX_JOBS;
	if (o->circuits && !o->shim) {
		fprintf(stderr, "sb-verify: --circuits needs the shim: pass --shim PATH/libswitchboard.so\n");
		return false;
	}
	if (o->circuits && (!o->tenant_socket || o->tenants == 0)) {
		fprintf(stderr, "sb-verify: --circuits needs an operator: pass --tenant-socket FMT --tenants N\n"
				"(npm run verify -- --circuits starts one)\n");
		return false;
	}
	return true;
}

/* In the circuit column the shim must really be loaded: a sequence that ran
 * without it would agree for the wrong reason. */
static bool shim_loaded(const char *shim)
{
	const char *base = strrchr(shim, '/');
	base = base ? base + 1 : shim;
	FILE *f = fopen("/proc/self/maps", "r");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof line, f))
		found = strstr(line, base) != NULL;
	fclose(f);
	return found;
}

static int run_child(long index)
{
	const char *expect = getenv("SBV_EXPECT_SHIM");
	if (expect && !shim_loaded(expect)) {
		printf("HARNESS %ld 0 the shim %s is not loaded in the child\n", index, expect);
		return 2;
	}
	if (sbv_enter_netns() != 0) {
		printf("HARNESS %ld 0 no network namespace\n", index);
		return 2;
	}
	fflush(stdout);
	int rc = sbv_run_sequence((unsigned)index, getenv("SBV_TRACE") != NULL);
	fflush(stdout);
	return rc;
}

/* The circuit column's environment for sequence `index`: the shim, and its tenant's control socket. */
static void circuit_env(const struct options *o, unsigned tenant)
{
	char sock[4096];
	snprintf(sock, sizeof sock, o->tenant_socket, tenant % o->tenants);
	setenv("LD_PRELOAD", o->shim, 1);
	setenv("SBV_EXPECT_SHIM", o->shim, 1);
	setenv("SWITCHBOARD_SOCKET", sock, 1);
}

/* Starts one sequence in a child whose stdout is a pipe back to us. */
static bool start(struct job *j, unsigned index, unsigned tenant, const struct options *o, const char *self)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return false;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return false;
	}
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		if (o->circuits) {
			/* The shim must be there from the first instruction: exec with it preloaded. */
			char idx[32];
			snprintf(idx, sizeof idx, "%u", index);
			circuit_env(o, tenant);
			execl(self, "sb-verify", "--child", idx, (char *)NULL);
			printf("HARNESS %u 0 exec %s: %s\n", index, self, strerror(errno));
			_exit(2);
		}
		_exit(run_child(index));
	}
	close(p[1]);
	j->pid = pid;
	j->fd = p[0];
	j->index = index;
	j->started_ms = now_ms();
	j->len = 0;
	return true;
}

static enum verdict parse_verdict(const char *out)
{
	if (!strncmp(out, "AGREE", 5))
		return AGREE;
	if (!strncmp(out, "DISAGREE", 8))
		return DISAGREE;
	return HARNESS;
}

static bool selected(unsigned i, const struct options *o)
{
	const struct sbv_seq *s = &sbv_seqs[i];
	if ((long)i < o->from)
		return false;
	return !o->machine || !strcmp(sbv_machines[s->machine].name, o->machine);
}

/* Counts per (machine, state, call): steps that agreed and steps that disagreed. */
struct tally {
	unsigned *agree;
	unsigned *disagree;
	size_t offset[8];
};

static void tally_sequence(struct tally *t, unsigned index, enum verdict v, unsigned failed_step)
{
	const struct sbv_seq *seq = &sbv_seqs[index];
	const struct sbv_machine_info *m = &sbv_machines[seq->machine];
	const struct sbv_step *steps[SBV_MAX_STEPS];
	unsigned n = sbv_sequence_steps(seq, steps);
	for (unsigned i = 0; i < n; i++) {
		size_t cell = t->offset[seq->machine] + (size_t)steps[i]->state * m->ncalls + steps[i]->call;
		if (v == DISAGREE && i + 1 == failed_step) {
			t->disagree[cell]++;
			break;
		}
		if (v != AGREE && (v != DISAGREE || i + 1 > failed_step))
			break;
		t->agree[cell]++;
	}
}

static void print_table(const struct tally *t, unsigned mi)
{
	const struct sbv_machine_info *m = &sbv_machines[mi];
	printf("\n%s (%s): steps per (state, call) that agree with the spec; '.' impossible, '-' not reached, 'xN' N disagree\n",
	       m->name, m->type == SOCK_STREAM ? "SOCK_STREAM" : "SOCK_DGRAM");
	printf("%-11s", "");
	for (unsigned c = 0; c < m->ncalls; c++)
		printf(" %6.6s", m->calls[c]);
	printf("\n");
	for (unsigned s = 0; s < m->nstates; s++) {
		printf("%-11s", m->states[s]);
		for (unsigned c = 0; c < m->ncalls; c++) {
			size_t cell = t->offset[mi] + (size_t)s * m->ncalls + c;
			char buf[16];
			if (t->disagree[cell])
				snprintf(buf, sizeof buf, "x%u", t->disagree[cell]);
			else if (!m->possible[s * m->ncalls + c])
				snprintf(buf, sizeof buf, ".");
			else if (!t->agree[cell])
				snprintf(buf, sizeof buf, "-");
			else
				snprintf(buf, sizeof buf, "%u", t->agree[cell]);
			printf(" %6s", buf);
		}
		printf("\n");
	}
}

static int run_all(const struct options *o, const char *self)
{
	struct tally t;
	size_t cells = 0;
	for (unsigned mi = 0; mi < sbv_machine_count && mi < 8; mi++) {
		t.offset[mi] = cells;
		cells += (size_t)sbv_machines[mi].nstates * sbv_machines[mi].ncalls;
	}
	t.agree = calloc(cells, sizeof *t.agree);
	t.disagree = calloc(cells, sizeof *t.disagree);
	if (!t.agree || !t.disagree)
		return 2;

	struct job jobs[MAX_JOBS];
	for (unsigned i = 0; i < o->jobs; i++) {
		jobs[i].pid = 0;
		jobs[i].runs = 0;
	}
	unsigned next = 0, done = 0, agree = 0, disagree = 0, harness = 0, total = 0;
	char *first_failure = NULL;
	unsigned shown = 1;
	bool started_any = true;

	while (started_any) {
		started_any = false;
		/* Fill free slots. */
		for (unsigned i = 0; i < o->jobs; i++) {
			if (jobs[i].pid != 0)
				continue;
			while (next < sbv_seq_count && (!selected(next, o) || (o->limit >= 0 && total >= (unsigned long)o->limit)))
				next++;
			if (next >= sbv_seq_count)
				break;
			/* Each job slot has tenants of its own (i, i + jobs, …): a sequence never shares its
			 * tenant with one still running, not even one that timed out and is being killed. */
			unsigned per_slot = o->tenants > o->jobs ? o->tenants / o->jobs : 1;
			unsigned tenant = i + o->jobs * (jobs[i].runs++ % per_slot);
			if (!start(&jobs[i], next, tenant, o, self)) {
				perror("sb-verify: fork");
				return 2;
			}
			next++;
			total++;
		}
		struct pollfd pfd[MAX_JOBS];
		unsigned slot[MAX_JOBS], n = 0;
		for (unsigned i = 0; i < o->jobs; i++) {
			if (jobs[i].pid == 0)
				continue;
			pfd[n] = (struct pollfd){ .fd = jobs[i].fd, .events = POLLIN };
			slot[n++] = i;
		}
		if (n == 0)
			break;
		started_any = true;
		poll(pfd, n, 200);
		long long now = now_ms();
		for (unsigned k = 0; k < n; k++) {
			struct job *j = &jobs[slot[k]];
			bool finished = false;
			if (pfd[k].revents) {
				ssize_t r = read(j->fd, j->out + j->len, sizeof j->out - 1 - j->len);
				if (r > 0)
					j->len += (size_t)r;
				else
					finished = true;
			}
			if (!finished && now - j->started_ms > SEQUENCE_TIMEOUT_MS) {
				kill(j->pid, SIGKILL);
				j->len = (size_t)snprintf(j->out, sizeof j->out, "HARNESS %u 0 timed out after %d ms\n", j->index,
							  SEQUENCE_TIMEOUT_MS);
				finished = true;
			}
			if (!finished)
				continue;
			close(j->fd);
			int status;
			waitpid(j->pid, &status, 0);
			j->pid = 0;
			j->out[j->len] = 0;
			if (j->len == 0) {
				snprintf(j->out, sizeof j->out, "HARNESS %u 0 child died (status %d) without a verdict\n", j->index,
					 status);
			}
			enum verdict v = parse_verdict(j->out);
			unsigned failed_step = 0;
			if (v == DISAGREE)
				sscanf(j->out, "DISAGREE %*u %u", &failed_step);
			tally_sequence(&t, j->index, v, failed_step);
			done++;
			if (v == AGREE) {
				agree++;
			} else {
				if (v == DISAGREE)
					disagree++;
				else
					harness++;
				if (!first_failure)
					first_failure = strdup(j->out);
				else if (shown < o->show)
					printf("%s", j->out);
				shown++;
			}
		}
	}

	if (!o->quiet) {
		for (unsigned mi = 0; mi < sbv_machine_count && mi < 8; mi++) {
			if (!o->machine || !strcmp(sbv_machines[mi].name, o->machine))
				print_table(&t, mi);
		}
	}
	if (first_failure) {
		printf("\nfirst disagreement:\n%s", first_failure);
		printf("(rerun it alone: sb-verify%s --seq N --trace)\n", o->circuits ? " --circuits --shim PATH" : "");
	}
	printf("\n%s column:\n", o->circuits ? "circuit" : "kernel");
	printf("verifier: %u sequences, %u agree, %u disagree", done, agree, disagree);
	if (harness)
		printf(", %u could not run (harness errors)", harness);
	printf("\n");
	free(first_failure);
	free(t.agree);
	free(t.disagree);
	return disagree || harness ? 1 : 0;
}

static void list_sequences(const struct options *o)
{
	for (unsigned i = 0; i < sbv_seq_count; i++) {
		if (!selected(i, o))
			continue;
		const struct sbv_seq *seq = &sbv_seqs[i];
		const struct sbv_step *steps[SBV_MAX_STEPS];
		unsigned n = sbv_sequence_steps(seq, steps);
		printf("%u %s v%u %s:", i, sbv_machines[seq->machine].name, seq->family, seq->nonblock ? "nb" : "b");
		for (unsigned k = 0; k < n; k++)
			printf(" %s;", steps[k]->label);
		printf("\n");
	}
}

int main(int argc, char **argv)
{
	struct options o;
	memset(&o, 0, sizeof o);
	long child;
	if (!parse(argc, argv, &o, &child))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (child >= 0)
		return run_child(child);
	if (o.list) {
		list_sequences(&o);
		return 0;
	}
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0) {
		perror("sb-verify: /proc/self/exe");
		return 2;
	}
	self[n] = 0;
	if (o.only >= 0) {
		/* One sequence, traced, in a child so that its namespace goes away with it. */
		pid_t pid = fork();
		if (pid == 0) {
			if (o.circuits) {
				char idx[32];
				snprintf(idx, sizeof idx, "%ld", o.only);
				circuit_env(&o, (unsigned)o.only);
				if (o.trace)
					setenv("SBV_TRACE", "1", 1);
				execl(self, "sb-verify", "--child", idx, (char *)NULL);
				_exit(2);
			}
			if (sbv_enter_netns() != 0)
				_exit(2);
			_exit(sbv_run_sequence((unsigned)o.only, o.trace));
		}
		int status;
		waitpid(pid, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
	}
	return run_all(&o, self);
}
