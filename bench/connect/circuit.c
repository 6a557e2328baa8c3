/*
 * Circuits through the operator.  Per connection, the client asks for a
 * circuit (connect → connect_granted with the memfd and its endpoint),
 * attaches it, sends one byte and waits for EOF; the server takes the
 * `incoming` from its listening port fd, attaches, reads the byte and
 * closes.  With --closed-notices both also send the `closed` accounting
 * notice after closing, as a shim may.  With --phases the client also
 * reports where a connection's time goes (phases_us, printed before the
 * result line).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bench.h"
#include "circuit.h"
#include "control.h"

static void closed_notice(int control, uint64_t circuit, uint64_t sent, uint64_t received)
{
	struct sb_proto_msg m = { .type = SB_PROTO_MSG_CLOSED };
	m.as.closed.circuit = circuit;
	m.as.closed.bytes_sent = sent;
	m.as.closed.bytes_received = received;
	unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE];
	size_t len;
	if (sb_proto_encode(&m, buf, sizeof buf, &len) != SB_PROTO_OK)
		dief("cannot encode closed");
	control_send(control, buf, len, NULL, 0);
}

static void serve(const struct run_spec *spec, int ready_fd)
{
	int control = control_open(spec->socket_path, "bench-server");
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_BIND, .request_id = 2 }, reply;
	req.as.bind.socket_type = SB_PROTO_SOCKET_TYPE_STREAM;
	req.as.bind.address = inet_loopback(spec->port);
	req.as.bind.options = 1; /* SO_REUSEADDR, as servers set it */
	int fds[2];
	control_call(control, &req, SB_PROTO_MSG_BIND_REPLY, &reply, fds);
	int port = fds[0];
	req = (struct sb_proto_msg){ .type = SB_PROTO_MSG_LISTEN, .request_id = 3 };
	req.as.listen.reservation = reply.as.bind_reply.reservation;
	req.as.listen.backlog = 128;
	control_call(control, &req, SB_PROTO_MSG_OK, &reply, fds);
	if (write(ready_fd, "r", 1) != 1)
		die("ready");
	unsigned total = spec->warmup + spec->iterations;
	for (unsigned i = 0; i < total; i++) {
		struct sb_proto_msg in;
		if (control_recv(port, SB_PROTO_ROUTE_PORT, &in, fds) != 2 || in.type != SB_PROTO_MSG_INCOMING)
			dief("server: expected incoming with two fds");
		struct sb_circuit c;
		int rc = sb_circuit_attach(&c, fds[0], fds[1], SB_ROLE_ACCEPTOR);
		if (rc < 0)
			dief("server: attach: %d", rc);
		close(fds[0]);
		char b;
		struct iovec iov = { &b, 1 };
		if (sb_circuit_recv(&c, &iov, 1, 0, NULL) != 1)
			dief("server: first byte");
		sb_circuit_close(&c);
		sb_circuit_detach(&c);
		close(fds[1]);
		if (spec->closed_notices)
			closed_notice(control, in.as.incoming.circuit, 0, 1);
	}
	close(port);
	close(control);
}

/* --phases: the client's view of one connection, ns per phase (t[i+1] - t[i]). */
enum { PHASE_GRANT, PHASE_ATTACH, PHASE_SEND, PHASE_EOF, PHASE_CLOSE, PHASES };
static const char *const phase_names[PHASES] = { "grant", "attach", "send", "eof", "close" };

static void one_connection(int control, const struct run_spec *spec, uint32_t request_id, double phase_ns[PHASES])
{
	uint64_t t[PHASES + 1];
	t[0] = now_ns();
	struct sb_proto_msg req = { .type = SB_PROTO_MSG_CONNECT, .request_id = request_id }, reply;
	req.as.connect.socket_type = SB_PROTO_SOCKET_TYPE_STREAM;
	req.as.connect.destination = inet_loopback(spec->port);
	int fds[2];
	control_call(control, &req, SB_PROTO_MSG_CONNECT_GRANTED, &reply, fds);
	t[1] = now_ns();
	struct sb_circuit c;
	int rc = sb_circuit_attach(&c, fds[0], fds[1], SB_ROLE_CONNECTOR);
	if (rc < 0)
		dief("client: attach: %d", rc);
	close(fds[0]);
	t[2] = now_ns();
	char b = 'x';
	struct iovec iov = { &b, 1 };
	if (sb_circuit_send(&c, &iov, 1, 0, NULL) != 1)
		dief("client: send");
	t[3] = now_ns();
	if (sb_circuit_recv(&c, &iov, 1, 0, NULL) != 0)
		dief("client: expected EOF");
	t[4] = now_ns();
	sb_circuit_close(&c);
	sb_circuit_detach(&c);
	close(fds[1]);
	if (spec->closed_notices)
		closed_notice(control, reply.as.connect_granted.circuit, 1, 0);
	t[5] = now_ns();
	if (phase_ns)
		for (int i = 0; i < PHASES; i++)
			phase_ns[i] = (double)(t[i + 1] - t[i]);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/*
 * `phases_us grant=median/mean/p90 attach=…`: per phase, over all measured
 * connections.  The means add up to the time per connection; the medians
 * show the typical case, and the difference is the tail.
 */
static void print_phases(double *samples, unsigned n)
{
	printf("phases_us");
	double *col = malloc(n * sizeof *col);
	if (!col)
		die("malloc");
	for (int p = 0; p < PHASES; p++) {
		double sum = 0;
		for (unsigned i = 0; i < n; i++)
			sum += col[i] = samples[(size_t)i * PHASES + (size_t)p];
		qsort(col, n, sizeof *col, cmp_double);
		printf(" %s=%.1f/%.1f/%.1f/%.1f/%.1f", phase_names[p], col[n / 2] / 1000, sum / n / 1000, col[n * 9 / 10] / 1000, col[n * 99 / 100] / 1000, col[n - 1] / 1000);
	}
	printf("\n");
	free(col);
}

unsigned run_circuit(const struct run_spec *spec, double *batch_ns, unsigned max_batches)
{
	pid_t server = start_server(serve, spec);
	int control = control_open(spec->socket_path, "bench-client");
	uint32_t id = 10;
	for (unsigned i = 0; i < spec->warmup; i++)
		one_connection(control, spec, id++, NULL);
	double *phases = spec->phases ? malloc((size_t)spec->iterations * PHASES * sizeof *phases) : NULL;
	if (spec->phases && !phases)
		die("malloc");
	unsigned n = 0;
	for (unsigned done = 0; done < spec->iterations && n < max_batches; n++) {
		unsigned k = spec->iterations - done < spec->batch ? spec->iterations - done : spec->batch;
		uint64_t t0 = now_ns();
		for (unsigned i = 0; i < k; i++)
			one_connection(control, spec, id++, phases ? phases + (size_t)(done + i) * PHASES : NULL);
		batch_ns[n] = (double)(now_ns() - t0) / k;
		done += k;
	}
	close(control);
	reap(server, "the server child");
	if (phases) {
		print_phases(phases, spec->iterations);
		free(phases);
	}
	return n;
}
