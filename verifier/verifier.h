/*
 * The verifier: runs the call sequences codegen explored from specs/socket/
 * against real sockets and compares every step with the spec's prediction.
 *
 * The sequences and predictions are generated data (sb_verifier_data.c);
 * this header is their shape plus the executor's entry points.  Each
 * sequence runs in a fresh child process in its own network namespace, so
 * ports, TIME_WAIT and leftovers of one sequence can never affect another.
 * With --circuits the same children run with the shim preloaded.
 */
#ifndef SBV_VERIFIER_H
#define SBV_VERIFIER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "sb_verifier_data.h"

/* sbv_step.ret: any file descriptor (>= 0). */
#define SBV_RET_FD (-2)
/* An expectation that this step does not check. */
#define SBV_UNCHECKED INT16_MIN

struct sbv_addr {
	int16_t err;   /* 0: the call succeeds and shows kind/port; else its errno */
	uint8_t kind;  /* enum sbv_addr_kind */
	int32_t port;  /* >= 0 exact; < 0 ephemeral generation -(g + 1) */
};

struct sbv_step {
	int32_t parent; /* index of the previous step in sbv_steps, or -1 */
	/* What to do */
	uint8_t op;     /* enum sbv_op */
	uint8_t api;    /* enum sbv_api */
	uint8_t addr;   /* enum sbv_addr_kind: bind/connect/sendto address */
	uint8_t how;    /* shutdown */
	int32_t flags;  /* MSG_* */
	int32_t port;
	uint32_t len;
	uint8_t reuse;       /* SO_REUSEADDR before bind */
	uint8_t accept_peer; /* the harness accepts the new connection afterwards */
	uint8_t follow;      /* accept: the new socket becomes the socket under test */
	/* What must happen */
	uint8_t blocks;
	uint8_t sigpipe;
	int32_t ret;     /* -1: fails with err; SBV_RET_FD: any descriptor */
	int16_t err;
	int16_t soerror; /* SO_ERROR's value, or SBV_UNCHECKED */
	int16_t tag;     /* first byte of the datagram received, or SBV_UNCHECKED */
	int16_t msg_flags; /* recvmsg's msg_flags, or SBV_UNCHECKED */
	struct sbv_addr source; /* recvfrom/recvmsg source; kind NONE: unchecked */
	/* What must be observable afterwards */
	uint16_t revents;
	struct sbv_addr sockname;
	struct sbv_addr peername;
	/* Where it sits in the spec (for reports) */
	uint8_t state, next, call, case_index;
	const char *label;
};

struct sbv_seq {
	uint8_t machine; /* index into sbv_machines */
	uint8_t family;  /* 4 or 6 */
	uint8_t nonblock;
	uint16_t nsteps;
	int32_t last;    /* index of the last step in sbv_steps */
};

struct sbv_machine_info {
	const char *name;
	int type;
	uint8_t nstates, ncalls;
	const char *const *states;
	const char *const *calls;
	const unsigned char *possible; /* [state * ncalls + call] */
};

extern const struct sbv_step sbv_steps[];
extern const unsigned sbv_step_count;
extern const struct sbv_seq sbv_seqs[];
extern const unsigned sbv_seq_count;
extern const struct sbv_machine_info sbv_machines[];
extern const unsigned sbv_machine_count;

/* The most steps a sequence has (the explorer's depth bound, with room). */
#define SBV_MAX_STEPS 32

/* Fills `out` with the sequence's steps in order; returns their number. */
unsigned sbv_sequence_steps(const struct sbv_seq *seq, const struct sbv_step *out[SBV_MAX_STEPS]);

/* Child side: runs one sequence in this process and prints its verdict on stdout.
 * Returns the exit status: 0 agree, 1 disagree, 2 harness error. */
int sbv_run_sequence(unsigned index, bool trace);

/* Gives this process a private network namespace with loopback up.
 * Returns 0, or an errno with a message already printed. */
int sbv_enter_netns(void);

#endif
