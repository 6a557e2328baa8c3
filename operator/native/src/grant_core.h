/*
 * What both connect paths share (JavaScript's grantCircuit in grant.cc and
 * the native fast path in fastpath.cc): fresh circuits made ahead of time,
 * addresses between JavaScript and the C codec, and the two sends of a grant.
 */
#ifndef SB_NATIVE_GRANT_CORE_H
#define SB_NATIVE_GRANT_CORE_H

#include <napi.h>
#include <stdint.h>

extern "C" {
#include "sb_protocol.h"
}

/* A circuit made ahead of time: its sealed memfd and its two ends, not handed out yet. */
struct FreshCircuit {
	int memfd;
	sb_proto_geometry geometry;
	int ends[2];        /* connector, acceptor */
	uint64_t cookies[2];
};

/* Makes one (mode: 1 stream, 2 dgram); 0 or an errno.  Safe on any thread. */
int MakeFreshCircuit(uint32_t mode, FreshCircuit *out);
void CloseFreshCircuit(const FreshCircuit &f);
/* { memfd, geometry: {…}, connectorFd, acceptorFd, connectorCookie, acceptorCookie } */
Napi::Object FreshCircuitValue(Napi::Env env, const FreshCircuit &f);
Napi::Object GeometryValue(Napi::Env env, const sb_proto_geometry &g);

uint64_t SocketCookie(int fd);

/* [family ('inet' | 'inet6'), text, port] -> the codec's address (flowinfo and scope 0); throws a TypeError. */
sb_proto_addr WireAddress(Napi::Env env, Napi::Value v);
/* The codec's address -> { family, address, port[, flowinfo, scopeId] }, the TypeScript codec's Address. */
Napi::Object AddressValue(Napi::Env env, const sb_proto_addr &a);

/* The circuit's description for both ends. */
struct GrantMessages {
	uint64_t circuit;
	bool stream;
	uint32_t request_id;
	sb_proto_geometry geometry;
	sb_proto_addr connector_local, connector_peer, acceptor_local, acceptor_peer;
	/* A datagram listener's mailbox (-1: none) and the count to write into it once incoming is queued. */
	int mailbox_fd = -1;
	uint64_t mailbox_count = 0;
};

/*
 * Queues `incoming` (memfd + acceptor end) on the listener's port, then
 * replies `connect_granted` (memfd + connector end) on the session.
 * Returns 0, or the errno of the incoming send: then nothing was sent to
 * anyone and both ends are still open (EAGAIN: the listener's kernel queue
 * is full).  Once incoming went out it closes both ends, whatever happens,
 * and *reply_err says whether the reply went out.  -EPROTO: the codec
 * refused the messages (never for addresses made by the codec or WireAddress).
 */
int SendGrant(int listener_fd, int session_fd, const GrantMessages &m, int memfd, const int ends[2], int *reply_err);

/* sendmsg with two fds (SCM_RIGHTS), never blocking, never raising SIGPIPE: 0 or errno. */
int SendWithFds(int fd, const void *buf, size_t len, int a, int b);

#endif
