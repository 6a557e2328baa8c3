/*
 * Runs one sequence in this (child) process and compares every step with the
 * spec's prediction: the call's result, then what poll(), getsockname() and
 * getpeername() show afterwards.  The verdict goes to stdout:
 *   AGREE <index>
 *   DISAGREE <index> <step> , then lines that show the sequence and the difference
 *   HARNESS <index> <step> <why>   (the harness itself failed; not a verdict)
 */
#include "executor.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define SBV_POLL_MASK (POLLIN | POLLPRI | POLLOUT | POLLERR | POLLHUP | POLLNVAL | POLLRDHUP)

unsigned sbv_sequence_steps(const struct sbv_seq *seq, const struct sbv_step *out[SBV_MAX_STEPS])
{
	unsigned n = seq->nsteps < SBV_MAX_STEPS ? seq->nsteps : SBV_MAX_STEPS;
	int32_t id = seq->last;
	for (unsigned i = n; i > 0 && id >= 0; i--) {
		out[i - 1] = &sbv_steps[id];
		id = sbv_steps[id].parent;
	}
	return n;
}

static const char *errname(int e)
{
	static char buf[32];
	if (e == 0)
		return "0";
	const char *n = strerrorname_np(e);
	if (n)
		return n;
	snprintf(buf, sizeof buf, "errno %d", e);
	return buf;
}

static void poll_names(unsigned mask, char *buf, size_t size)
{
	static const struct { unsigned bit; const char *name; } bits[] = {
		{ POLLIN, "IN" }, { POLLPRI, "PRI" }, { POLLOUT, "OUT" }, { POLLERR, "ERR" },
		{ POLLHUP, "HUP" }, { POLLNVAL, "NVAL" }, { POLLRDHUP, "RDHUP" },
	};
	buf[0] = 0;
	for (unsigned i = 0; i < sizeof bits / sizeof bits[0]; i++) {
		if (mask & bits[i].bit) {
			if (buf[0])
				strncat(buf, "|", size - strlen(buf) - 1);
			strncat(buf, bits[i].name, size - strlen(buf) - 1);
		}
	}
	if (!buf[0])
		snprintf(buf, size, "-");
}

struct verdict {
	char text[1024];
	size_t len;
};

static void say(struct verdict *v, const char *fmt, ...)
{
	va_list ap;
	if (v->len > 0 && v->len + 2 < sizeof v->text) {
		memcpy(v->text + v->len, "; ", 3);
		v->len += 2;
	}
	va_start(ap, fmt);
	int n = vsnprintf(v->text + v->len, sizeof v->text - v->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		v->len += (size_t)n < sizeof v->text - v->len ? (size_t)n : sizeof v->text - v->len - 1;
}

static void describe_port(char *buf, size_t size, int port)
{
	if (port >= 0)
		snprintf(buf, size, "%d", port);
	else
		snprintf(buf, size, "ephemeral#%d", -port - 1);
}

/* Compares an address a call returned with the prediction; ephemeral generations must keep their port. */
static bool check_addr(struct sbv_ctx *c, const struct sbv_addr *want, long ret, int err,
		       const struct sockaddr_storage *got, const char *what, struct verdict *v)
{
	char wp[32];
	describe_port(wp, sizeof wp, want->port);
	if (want->err) {
		if (ret == -1 && err == want->err)
			return true;
		if (ret == -1)
			say(v, "%s: fails with %s, spec says %s", what, errname(err), errname(want->err));
		else
			say(v, "%s: succeeds, spec says it fails with %s", what, errname(want->err));
		return false;
	}
	if (ret != 0) {
		say(v, "%s: fails with %s, spec says %s:%s", what, errname(err), sbv_addr_kind_name(want->kind), wp);
		return false;
	}
	unsigned kind;
	int port;
	sbv_classify_addr(got, &kind, &port);
	bool ok = kind == want->kind;
	if (want->port >= 0) {
		ok = ok && port == want->port;
	} else {
		int gen = -want->port - 1;
		if (port < SBV_EPHEMERAL_LOW || port > SBV_EPHEMERAL_HIGH || gen >= SBV_MAX_EPHEMERAL)
			ok = false;
		else if (c->ephemeral[gen] == 0)
			c->ephemeral[gen] = port;
		else
			ok = ok && c->ephemeral[gen] == port;
	}
	if (!ok)
		say(v, "%s: shows %s:%d, spec says %s:%s", what, sbv_addr_kind_name(kind), port, sbv_addr_kind_name(want->kind), wp);
	return ok;
}

/* The call's own result against the prediction. */
static bool check_call(struct sbv_ctx *c, const struct sbv_step *s, const struct sbv_observed *o, struct verdict *v)
{
	bool ok = true;
	bool blocked = o->interrupted && (o->ret == -1 ? o->err == EINTR : true);
	if (s->blocks) {
		if (!o->interrupted) {
			say(v, "returned %ld (%s) at once; spec says it blocks", o->ret, errname(o->err));
			return false;
		}
		if (s->ret == -1 && !(o->ret == -1 && o->err == EINTR)) {
			say(v, "blocked, then returned %ld (%s); spec says EINTR", o->ret, errname(o->err));
			ok = false;
		} else if (s->ret >= 0 && o->ret != s->ret) {
			say(v, "blocked, then returned %ld (%s); spec says %d", o->ret, errname(o->err), s->ret);
			ok = false;
		}
	} else if (blocked && o->ret == -1) {
		say(v, "blocked; spec says it returns %d%s%s", s->ret, s->ret == -1 ? " with " : "", s->ret == -1 ? errname(s->err) : "");
		return false;
	} else if (s->ret == SBV_RET_FD) {
		if (o->ret < 0) {
			say(v, "failed with %s; spec says it returns a descriptor", errname(o->err));
			ok = false;
		}
	} else if (s->ret == -1) {
		if (o->ret != -1 || o->err != s->err) {
			if (o->ret == -1)
				say(v, "failed with %s; spec says %s", errname(o->err), errname(s->err));
			else
				say(v, "returned %ld; spec says it fails with %s", o->ret, errname(s->err));
			ok = false;
		}
	} else if (o->ret != s->ret) {
		if (o->ret == -1)
			say(v, "failed with %s; spec says it returns %d", errname(o->err), s->ret);
		else
			say(v, "returned %ld; spec says %d", o->ret, s->ret);
		ok = false;
	}
	if (o->sigpipes != s->sigpipe) {
		say(v, "%sSIGPIPE; spec says %s", o->sigpipes ? "" : "no ", s->sigpipe ? "SIGPIPE" : "none");
		ok = false;
	}
	if (s->soerror != SBV_UNCHECKED && o->ret == 0 && o->soerror != s->soerror) {
		say(v, "SO_ERROR is %s; spec says %s", errname(o->soerror), errname(s->soerror));
		ok = false;
	}
	if (!o->content_ok) {
		say(v, "received bytes are not the ones sent (lost, duplicated or reordered)");
		ok = false;
	}
	if (s->tag != SBV_UNCHECKED && o->ret >= 0 && o->tag != s->tag) {
		say(v, "received datagram #%d; spec says #%d", o->tag, s->tag);
		ok = false;
	}
	if (s->msg_flags != SBV_UNCHECKED && s->api == SBV_API_RECVMSG && o->ret >= 0 &&
	    (o->msg_flags & MSG_TRUNC) != (s->msg_flags & MSG_TRUNC)) {
		say(v, "msg_flags %s MSG_TRUNC; spec says %s", (o->msg_flags & MSG_TRUNC) ? "has" : "lacks",
		    (s->msg_flags & MSG_TRUNC) ? "it does" : "it does not");
		ok = false;
	}
	if (s->source.kind != SBV_ADDR_NONE && o->have_source)
		ok = check_addr(c, &s->source, 0, 0, &o->source, "source address", v) && ok;
	return ok;
}

/* What poll(), getsockname() and getpeername() show after the step. */
static bool check_after(struct sbv_ctx *c, const struct sbv_step *s, struct verdict *v)
{
	bool ok = true;
	struct pollfd p = { .fd = c->sut, .events = POLLIN | POLLPRI | POLLOUT | POLLRDHUP };
	poll(&p, 1, 0);
	unsigned got = (unsigned)p.revents & SBV_POLL_MASK;
	if (got != s->revents) {
		char g[64], w[64];
		poll_names(got, g, sizeof g);
		poll_names(s->revents, w, sizeof w);
		say(v, "poll shows %s; spec says %s", g, w);
		ok = false;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	memset(&ss, 0, sizeof ss);
	long r = getsockname(c->sut, (struct sockaddr *)&ss, &sl);
	ok = check_addr(c, &s->sockname, r, r < 0 ? errno : 0, &ss, "getsockname", v) && ok;
	sl = sizeof ss;
	memset(&ss, 0, sizeof ss);
	r = getpeername(c->sut, (struct sockaddr *)&ss, &sl);
	ok = check_addr(c, &s->peername, r, r < 0 ? errno : 0, &ss, "getpeername", v) && ok;
	return ok;
}

static void print_sequence(unsigned index, const struct sbv_step *const *steps, unsigned n, unsigned upto)
{
	const struct sbv_seq *seq = &sbv_seqs[index];
	const struct sbv_machine_info *m = &sbv_machines[seq->machine];
	printf("  sequence %u: %s, IPv%u, %s socket\n", index, m->name, seq->family, seq->nonblock ? "non-blocking" : "blocking");
	for (unsigned i = 0; i < n && i <= upto; i++) {
		const struct sbv_step *s = steps[i];
		printf("  %c %2u. %-10s %-32s -> %-10s (rule case %u)\n", i == upto ? '>' : ' ', i + 1,
		       m->states[s->state], s->label, m->states[s->next], s->case_index);
	}
}

int sbv_run_sequence(unsigned index, bool trace)
{
	if (index >= sbv_seq_count) {
		printf("HARNESS %u 0 no such sequence\n", index);
		return 2;
	}
	const struct sbv_seq *seq = &sbv_seqs[index];
	const struct sbv_machine_info *m = &sbv_machines[seq->machine];
	const struct sbv_step *steps[SBV_MAX_STEPS];
	unsigned n = sbv_sequence_steps(seq, steps);

	struct sbv_ctx c;
	memset(&c, 0, sizeof c);
	c.seq = seq;
	c.domain = seq->family == 6 ? AF_INET6 : AF_INET;
	c.type = m->type;
	c.sut = SBV_NO_FD;
	sbv_step_init();
	if (sbv_harness_setup(&c) != 0) {
		printf("HARNESS %u 0 %s\n", index, c.harness_error);
		return 2;
	}

	for (unsigned i = 0; i < n; i++) {
		const struct sbv_step *s = steps[i];
		struct verdict v = { .len = 0 };
		bool ok = true;
		bool is_event = s->op >= SBV_OP_PEER_CONNECT;
		if (is_event) {
			if (!sbv_harness_event(&c, s)) {
				printf("HARNESS %u %u %s\n", index, i + 1, c.harness_error);
				print_sequence(index, steps, n, i);
				sbv_harness_teardown(&c);
				return 2;
			}
		} else {
			struct sbv_observed o;
			sbv_step_call(&c, s, &o);
			ok = check_call(&c, s, &o, &v);
			if (trace)
				printf("  %2u. %-32s ret %ld %s%s\n", i + 1, s->label, o.ret, o.ret < 0 ? errname(o.err) : "",
				       o.interrupted ? " (slept)" : "");
			/* A connect that reached the harness listener: take the peer's side of it. */
			if (ok && s->accept_peer && !sbv_harness_accept_peer(&c)) {
				printf("HARNESS %u %u %s\n", index, i + 1, c.harness_error);
				print_sequence(index, steps, n, i);
				sbv_harness_teardown(&c);
				return 2;
			}
		}
		ok = check_after(&c, s, &v) && ok;
		if (!ok) {
			printf("DISAGREE %u %u\n", index, i + 1);
			print_sequence(index, steps, n, i);
			printf("    %s (%s, %s): %s\n", m->name, m->states[s->state], m->calls[s->call], v.text);
			sbv_harness_teardown(&c);
			return 1;
		}
	}
	printf("AGREE %u\n", index);
	sbv_harness_teardown(&c);
	if (c.sut_open)
		close(c.sut);
	return 0;
}
