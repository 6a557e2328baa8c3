/*
 * The generated machine tables against codegen's own decisions: for
 * thousands of random (state, call, facts) points, sb_machine_decide() must
 * pick the case codegen/machine/model.ts picks, and sb_machine_poll() must
 * give the readiness the spec lists.
 */
#include <stdio.h>

#include "machine.h"
#include "sb_vectors_machine.h"

struct point {
	const unsigned char *facts;
};

static unsigned fact_of(void *ctx, unsigned fact)
{
	const struct point *p = ctx;
	return fact < SB_VECTOR_MAX_FACTS ? p->facts[fact] : 0;
}

int main(void)
{
	unsigned bad = 0;
	for (unsigned i = 0; i < sb_machine_vector_count; i++) {
		const struct sb_machine_vector *v = &sb_machine_vectors[i];
		struct point p = { v->facts };
		const struct sb_case *c = sb_machine_decide(v->machine, v->state, v->call, fact_of, &p);
		const struct sb_rule *rule = &v->machine->rules[v->state * v->machine->ncalls + v->call];
		unsigned got = c ? (unsigned)(c - rule->cases) : 999;
		unsigned poll = sb_machine_poll(v->machine, v->state, fact_of, &p);
		if (got != v->expected_case || poll != v->expected_poll) {
			if (bad++ < 10)
				fprintf(stderr, "vector %u: %s (%s, %s): case %u poll 0x%x, expected case %u poll 0x%x\n", i,
					v->machine->name, v->machine->states[v->state].name, v->machine->calls[v->call], got, poll,
					v->expected_case, v->expected_poll);
		}
	}
	printf("machine tables: %u vectors, %u disagree\n", sb_machine_vector_count, bad);
	return bad ? 1 : 0;
}
