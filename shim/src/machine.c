/* Walks the generated machine tables; see machine.h. */
#include "machine.h"

#include <stddef.h>

static bool terms_hold(const struct sb_term *terms, unsigned n, sb_fact_fn fact, void *ctx)
{
	for (unsigned i = 0; i < n; i++) {
		unsigned v = fact(ctx, terms[i].fact);
		if (v >= 32 || !(terms[i].values & (UINT32_C(1) << v)))
			return false;
	}
	return true;
}

const struct sb_case *sb_machine_decide(const struct sb_machine *m, unsigned state, unsigned call,
					sb_fact_fn fact, void *ctx)
{
	if (state >= m->nstates || call >= m->ncalls)
		return NULL;
	const struct sb_rule *rule = &m->rules[state * m->ncalls + call];
	for (unsigned i = 0; i < rule->ncases; i++) {
		const struct sb_case *c = &rule->cases[i];
		if (terms_hold(c->terms, c->nterms, fact, ctx))
			return c;
	}
	return NULL; /* codegen proved every rule exhaustive, so this is unreachable */
}

uint16_t sb_machine_poll(const struct sb_machine *m, unsigned state, sb_fact_fn fact, void *ctx)
{
	if (state >= m->nstates)
		return 0;
	const struct sb_state_info *s = &m->states[state];
	uint16_t mask = 0;
	for (unsigned i = 0; i < s->nready; i++) {
		if (terms_hold(s->ready[i].terms, s->ready[i].nterms, fact, ctx))
			mask |= s->ready[i].flag;
	}
	return mask;
}
