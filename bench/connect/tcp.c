/*
 * The kernel baseline: TCP on loopback.  Per connection: the client
 * connects and writes one byte; the server accepts, reads it and closes;
 * the client reads EOF and closes.  run.mjs runs this in a fresh network
 * namespace (TIME_WAIT and the ephemeral port range are per namespace).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

static struct sockaddr_in loopback(uint16_t port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

static void serve(const struct run_spec *spec, int ready_fd)
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	struct sockaddr_in a = loopback(spec->port);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 128) < 0)
		die("tcp server: listen");
	if (write(ready_fd, "r", 1) != 1)
		die("ready");
	unsigned total = spec->warmup + spec->iterations;
	for (unsigned i = 0; i < total; i++) {
		int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		char c;
		if (s < 0 || read(s, &c, 1) != 1)
			die("tcp server: accept/read");
		close(s);
	}
	close(l);
}

static void one_connection(uint16_t port)
{
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = loopback(port);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof a) < 0)
		die("tcp client: connect");
	char c = 'x';
	if (write(s, &c, 1) != 1 || read(s, &c, 1) != 0)
		die("tcp client: first byte / EOF");
	close(s);
}

unsigned run_tcp(const struct run_spec *spec, double *batch_ns, unsigned max_batches)
{
	pid_t server = start_server(serve, spec);
	for (unsigned i = 0; i < spec->warmup; i++)
		one_connection(spec->port);
	unsigned n = 0;
	for (unsigned done = 0; done < spec->iterations && n < max_batches; n++) {
		unsigned k = spec->iterations - done < spec->batch ? spec->iterations - done : spec->batch;
		uint64_t t0 = now_ns();
		for (unsigned i = 0; i < k; i++)
			one_connection(spec->port);
		batch_ns[n] = (double)(now_ns() - t0) / k;
		done += k;
	}
	reap(server, "the server child");
	return n;
}
