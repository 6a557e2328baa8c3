/*
 * sb-bench-ring: one measurement per invocation (see bench.h, docs/performance.md).
 *
 *   sb-bench-ring probe [N]                     N placement probes (median round trip, ns)
 *   sb-bench-ring goodput -t T -m BYTES [-d SECONDS]
 *   sb-bench-ring rtt -t T [-n ITERS]
 *   sb-bench-ring transports                    which transports this build has
 * common: -t tcp|unix|copy|zerocopy  -r RING_BYTES (circuits)  --nodelay  --sleep (circuits)
 *         --no-probe (skip the placement probes around the measurement)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void usage(void)
{
	fputs("usage: sb-bench-ring probe [N] | transports |\n"
	      "       sb-bench-ring goodput|rtt -t tcp|unix|copy|zerocopy [-m MSG] [-d SECONDS] [-n ITERS]\n"
	      "                     [-r RING] [--nodelay] [--sleep] [--no-probe]\n",
	      stderr);
	exit(2);
}

static unsigned long long number(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 0);
	if (end == s)
		usage();
	if (*end == 'k' || *end == 'K')
		v <<= 10;
	else if (*end == 'm' || *end == 'M')
		v <<= 20;
	return v;
}

void print_common(const struct run_opts *o, double before, double after)
{
	printf("\"transport\":\"%s\",\"ring\":%llu,\"nodelay\":%s,\"sleep\":%s,\"probe_before_ns\":%.1f,"
	       "\"probe_after_ns\":%.1f",
	       transport_name(o->t), (unsigned long long)o->pair.ring_size, o->pair.nodelay ? "true" : "false",
	       o->pair.sleep ? "true" : "false", before, after);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *cmd = argv[1];
	if (strcmp(cmd, "probe") == 0) {
		int n = argc > 2 ? atoi(argv[2]) : 1;
		printf("{\"probe_ns\":[");
		for (int i = 0; i < n; i++)
			printf("%s%.1f", i ? "," : "", probe_placement());
		printf("]}\n");
		return 0;
	}
	if (strcmp(cmd, "transports") == 0) {
		for (int t = 0; t < T_COUNT; t++)
			if (transport_available(t))
				printf("%s\n", transport_name(t));
		return 0;
	}
	struct run_opts o = { .t = T_TCP, .msg = 65536, .duration = 0.5, .iters = 20000, .probe = true };
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (strcmp(a, "--nodelay") == 0)
			o.pair.nodelay = true;
		else if (strcmp(a, "--sleep") == 0)
			o.pair.sleep = true;
		else if (strcmp(a, "--no-probe") == 0)
			o.probe = false;
		else if (!v)
			usage();
		else if (strcmp(a, "-t") == 0 && transport_parse(v) >= 0)
			o.t = transport_parse(v), i++;
		else if (strcmp(a, "-m") == 0)
			o.msg = number(v), i++;
		else if (strcmp(a, "-d") == 0)
			o.duration = atof(v), i++;
		else if (strcmp(a, "-n") == 0)
			o.iters = (long)number(v), i++;
		else if (strcmp(a, "-r") == 0)
			o.pair.ring_size = number(v), i++;
		else
			usage();
	}
	if (o.pair.sleep)
		setenv("SWITCHBOARD_SPIN_NS", "0", 1); /* the library's knob, in case it reads it at attach */
	if (o.msg == 0 || o.iters < 100 || o.duration <= 0)
		usage();
	if (strcmp(cmd, "goodput") == 0)
		return cmd_goodput(&o);
	if (strcmp(cmd, "rtt") == 0)
		return cmd_rtt(&o);
	usage();
}
