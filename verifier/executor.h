/*
 * Internals of the sequence executor: the harness around the socket under
 * test (listeners, peers, strangers) and the step runner.
 */
#ifndef SBV_EXECUTOR_H
#define SBV_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "verifier.h"

/* Calls made before socket() go to this descriptor, which is never open. */
#define SBV_NO_FD 50
/* Harness descriptors live at or above this number, so they never take the
 * number of the socket under test, not even after it was closed. */
#define SBV_HARNESS_FD_BASE 100
#define SBV_MAX_CLIENTS 16
#define SBV_MAX_EPHEMERAL 64

struct sbv_ctx {
	const struct sbv_seq *seq;
	int domain;   /* AF_INET or AF_INET6 */
	int type;     /* SOCK_STREAM or SOCK_DGRAM */
	int sut;      /* the number calls go to: SBV_NO_FD, the socket, or its closed number */
	bool sut_open;

	/* Stream harness */
	int listener;     /* at PORT_PEER, accepts our connects */
	int full_listener; /* at PORT_FULL, accept queue full */
	int full_client;
	int clients[SBV_MAX_CLIENTS]; /* peers that connected to our listener */
	unsigned nclients;
	unsigned next_client;         /* the oldest client our listener has not accepted yet */
	int old_listener;             /* the listener, once the sequence follows a socket it accepted */
	/* Both: the peer (stream: accepted connection; dgram: socket at PORT_PEER) */
	int peer;
	int stranger;  /* dgram: second sender at PORT_STRANGER */
	int taken;     /* holds PORT_TAKEN without sharing */
	int shared;    /* holds PORT_SHARED with SO_REUSEADDR */

	uint64_t rx_off;      /* stream: bytes the socket under test consumed */
	uint64_t peer_tx_off; /* stream: bytes the peer sent */
	int next_tag;         /* dgram: tag of the next datagram the harness sends */
	int ephemeral[SBV_MAX_EPHEMERAL]; /* port seen for each ephemeral generation, 0 = not yet */

	char harness_error[256];
};

/* The byte at offset `off` of a stream the harness or the socket under test writes. */
static inline unsigned char sbv_pattern(uint64_t off)
{
	return (unsigned char)(off * 7 + 3);
}

/* Harness (harness.c) */
int sbv_harness_setup(struct sbv_ctx *c);
void sbv_harness_teardown(struct sbv_ctx *c);
/* Performs an event step; false (with c->harness_error set) if the harness could not. */
bool sbv_harness_event(struct sbv_ctx *c, const struct sbv_step *s);
/* After a connect that reached the harness listener: accept its side as the peer. */
bool sbv_harness_accept_peer(struct sbv_ctx *c);
/* accept(): the harness's client that connection came from; with `follow`, it becomes the peer. */
void sbv_harness_accepted(struct sbv_ctx *c, bool follow);
/* Moves a descriptor to SBV_HARNESS_FD_BASE or above (close-on-exec); -1 stays -1. */
int sbv_harness_fd(int fd);

/* Addresses (addr.c) */
socklen_t sbv_make_addr(int domain, unsigned kind, int port, struct sockaddr_storage *ss);
/* Classifies an address the kernel returned: its kind (SBV_ADDR_*, or 255 for other) and port. */
void sbv_classify_addr(const struct sockaddr_storage *ss, unsigned *kind, int *port);
const char *sbv_addr_kind_name(unsigned kind);

/* What a step did (step.c) */
struct sbv_observed {
	long ret;
	int err;          /* errno when ret == -1 */
	bool interrupted; /* the timer fired during the call: it slept */
	int sigpipes;
	int soerror;      /* for SO_ERROR */
	int tag;          /* first byte received, -1 if none */
	int msg_flags;
	bool content_ok;  /* received bytes match the pattern */
	struct sockaddr_storage source;
	bool have_source;
	char detail[160]; /* harness trouble, if any */
};

/* Performs a call on the socket under test. */
void sbv_step_call(struct sbv_ctx *c, const struct sbv_step *s, struct sbv_observed *o);
/* Installs the SIGALRM and SIGPIPE handlers the step runner relies on. */
void sbv_step_init(void);

#endif
