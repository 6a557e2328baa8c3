/*
 * The socket state machines from specs/socket/, as tables.
 *
 * codegen renders one `struct sb_machine` per machine (sb_machine_stream.c,
 * sb_machine_dgram.c); this header is the shape of those tables and the two
 * questions the runtime asks them: which case applies to a call in a state
 * (sb_machine_decide) and what poll() reports in a state (sb_machine_poll).
 *
 * A "fact" is a condition (answered by the caller at call time) or a piece
 * of memory kept beside the state; both are small enums, booleans being
 * 0 = false, 1 = true.  The caller answers facts through a callback so that
 * only the facts a rule actually tests are ever computed.
 */
#ifndef SB_MACHINE_H
#define SB_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

enum sb_returns {
	SB_RETURNS_NOTHING = 0,
	SB_RETURNS_ZERO,
	SB_RETURNS_FD,
	SB_RETURNS_SENT,
	SB_RETURNS_RECEIVED,
	SB_RETURNS_EOF,
	SB_RETURNS_SOCKNAME,
	SB_RETURNS_PEERNAME,
	SB_RETURNS_PENDING_ERROR,
};

enum sb_local {
	SB_LOCAL_UNCHANGED = 0,
	SB_LOCAL_BIND,
	SB_LOCAL_AUTOBIND,
	SB_LOCAL_CONNECT,
	SB_LOCAL_REFUSED,
	SB_LOCAL_DISCONNECT,
};

/* sb_outcome.fails: 0 = succeeds, > 0 = this errno, SB_FAILS_PENDING = the pending error. */
#define SB_FAILS_PENDING (-1)
/* sb_outcome.to when the state does not change. */
#define SB_STATE_UNCHANGED (-1)

/* A guard term: fact `fact` must have one of the values whose bit is set. */
struct sb_term {
	uint8_t fact;
	uint32_t values;
};

struct sb_assign {
	uint8_t fact;
	uint8_t value;
};

struct sb_outcome {
	uint8_t returns;   /* enum sb_returns */
	int16_t fails;     /* see SB_FAILS_PENDING */
	int16_t to;        /* next state, or SB_STATE_UNCHANGED */
	int16_t spawns;    /* the state of the socket the call returns (accept), or SB_STATE_UNCHANGED */
	uint8_t local;     /* enum sb_local */
	bool blocks;
	bool impossible;
	bool sigpipe;
	uint8_t nset;
	const struct sb_assign *set;
};

struct sb_case {
	uint8_t nterms;
	const struct sb_term *terms;
	struct sb_outcome then;
};

struct sb_rule {
	uint8_t ncases;
	const struct sb_case *cases;
};

/* One poll bit a state reports when its guard holds. */
struct sb_readiness {
	uint16_t flag; /* POLLIN, POLLOUT, ... */
	uint8_t nterms;
	const struct sb_term *terms;
};

struct sb_state_info {
	const char *name;
	uint8_t nready;
	const struct sb_readiness *ready;
};

struct sb_fact_info {
	const char *name;
	bool memory;
	uint8_t nvalues;
	const char *const *values;
};

struct sb_machine {
	const char *name;
	int type; /* SOCK_STREAM or SOCK_DGRAM */
	uint8_t initial;
	uint8_t nstates;
	uint8_t ncalls;
	uint8_t nfacts;
	const struct sb_state_info *states;
	const char *const *calls;
	const struct sb_fact_info *facts;
	const struct sb_rule *rules; /* [state * ncalls + call] */
};

/* Answers "what value does fact `fact` have now?" (an index into its values). */
typedef unsigned (*sb_fact_fn)(void *ctx, unsigned fact);

/* The first case of (state, call) whose guard holds; NULL for an out-of-range state or call. */
const struct sb_case *sb_machine_decide(const struct sb_machine *m, unsigned state, unsigned call,
					sb_fact_fn fact, void *ctx);

/* The poll() bits the state reports given the facts. */
uint16_t sb_machine_poll(const struct sb_machine *m, unsigned state, sb_fact_fn fact, void *ctx);

#endif
