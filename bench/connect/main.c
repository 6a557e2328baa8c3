/*
 * sb-bench-connect tcp|circuit [--iterations N] [--batch B] [--warmup W] [--port P] [--socket PATH] [--closed-notices] [--phases]
 * sb-bench-connect probe
 *
 * Prints one line: `mode=tcp iterations=N median_us=X min_us=Y` (per
 * connection: the median and the minimum over batches of B), or
 * `probe_ns=X`.  With --phases (circuit) a second line gives the median of
 * each phase of a connection as the client sees it (circuit.c).  run.mjs runs both modes alternately and compares them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static unsigned number(const char *s, const char *what)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (*s == '\0' || *end != '\0' || v == 0 || v > 10000000)
		dief("%s: not a positive number: %s", what, s);
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		dief("usage: sb-bench-connect tcp|circuit|probe [options]");
	if (strcmp(argv[1], "probe") == 0) {
		printf("probe_ns=%.1f\n", probe_placement());
		return 0;
	}
	struct run_spec spec = { .iterations = 2000, .batch = 100, .warmup = 200, .port = 7070 };
	for (int i = 2; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : "";
		if (strcmp(argv[i], "--iterations") == 0)
			spec.iterations = number(v, argv[i]), i++;
		else if (strcmp(argv[i], "--batch") == 0)
			spec.batch = number(v, argv[i]), i++;
		else if (strcmp(argv[i], "--warmup") == 0)
			spec.warmup = number(v, argv[i]), i++;
		else if (strcmp(argv[i], "--port") == 0)
			spec.port = (uint16_t)number(v, argv[i]), i++;
		else if (strcmp(argv[i], "--closed-notices") == 0)
			spec.closed_notices = 1;
		else if (strcmp(argv[i], "--phases") == 0)
			spec.phases = 1;
		else if (strcmp(argv[i], "--socket") == 0)
			spec.socket_path = v, i++;
		else
			dief("unknown option %s", argv[i]);
	}
	run_fn run;
	if (strcmp(argv[1], "tcp") == 0)
		run = run_tcp;
	else if (strcmp(argv[1], "circuit") == 0 && spec.socket_path)
		run = run_circuit;
	else
		dief("usage: sb-bench-connect tcp|circuit --socket PATH [options]");
	unsigned max = (spec.iterations + spec.batch - 1) / spec.batch;
	double *batch = calloc(max, sizeof *batch);
	if (!batch)
		die("calloc");
	unsigned n = run(&spec, batch, max);
	qsort(batch, n, sizeof *batch, cmp);
	printf("mode=%s iterations=%u median_us=%.2f min_us=%.2f\n", argv[1], spec.iterations, batch[n / 2] / 1000,
	       batch[0] / 1000);
	free(batch);
	return 0;
}
