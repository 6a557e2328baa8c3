/*
 * The connect path when JavaScript decided it (a miss of the fast path in
 * fastpath.cc): queue `incoming` (memfd + acceptor end) on the listener's
 * port and send `connect_granted` (memfd + connector end) to the connecting
 * session, both encoded by the generated C codec (the same spec as the
 * TypeScript one), then close the operator's copies of the ends.
 *
 *   grantCircuit({ listenerFd, sessionFd, memfd, connectorFd, acceptorFd, stream, circuit,
 *                  requestId, geometry, connectorLocal, connectorPeer, acceptorLocal, acceptorPeer,
 *                  [mailboxFd, mailboxCount] })
 *     -> { incomingErrno, replyErrno }
 *
 * The circuit comes ready-made (FastPath.takeFresh), so nothing is created
 * on the connect path; grantCircuit closes both ends, whatever happens.
 * Addresses are [family ('inet' | 'inet6'), text, port].  incomingErrno != 0:
 * nothing was sent to anyone (EAGAIN: the listener's queue is full).
 */
#include <napi.h>

#include <unistd.h>

#include "grant_core.h"

namespace {

uint64_t Big(Napi::Value v)
{
	bool lossless;
	return v.As<Napi::BigInt>().Uint64Value(&lossless);
}

Napi::Value GrantCircuit(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Object o = info[0].As<Napi::Object>();
	int listener = o.Get("listenerFd").As<Napi::Number>().Int32Value();
	int session = o.Get("sessionFd").As<Napi::Number>().Int32Value();
	int memfd = o.Get("memfd").As<Napi::Number>().Int32Value();
	int ends[2] = {o.Get("connectorFd").As<Napi::Number>().Int32Value(), o.Get("acceptorFd").As<Napi::Number>().Int32Value()};
	GrantMessages m{};
	try {
		m.stream = o.Get("stream").ToBoolean();
		m.circuit = Big(o.Get("circuit"));
		m.request_id = o.Get("requestId").As<Napi::Number>().Uint32Value();
		Napi::Object g = o.Get("geometry").As<Napi::Object>();
		m.geometry.layout = (uint16_t)g.Get("layout").As<Napi::Number>().Uint32Value();
		m.geometry.memfd_bytes = Big(g.Get("memfdBytes"));
		m.geometry.ring_a_offset = Big(g.Get("ringAOffset"));
		m.geometry.ring_a_bytes = g.Get("ringABytes").As<Napi::Number>().Uint32Value();
		m.geometry.ring_b_offset = Big(g.Get("ringBOffset"));
		m.geometry.ring_b_bytes = g.Get("ringBBytes").As<Napi::Number>().Uint32Value();
		m.connector_local = WireAddress(env, o.Get("connectorLocal"));
		m.connector_peer = WireAddress(env, o.Get("connectorPeer"));
		m.acceptor_local = WireAddress(env, o.Get("acceptorLocal"));
		m.acceptor_peer = WireAddress(env, o.Get("acceptorPeer"));
		if (o.Has("mailboxFd") && o.Get("mailboxFd").IsNumber()) {
			m.mailbox_fd = o.Get("mailboxFd").As<Napi::Number>().Int32Value();
			m.mailbox_count = Big(o.Get("mailboxCount"));
		}
	} catch (...) {
		close(ends[0]);
		close(ends[1]);
		throw;
	}
	int reply_err = 0;
	int incoming_err = SendGrant(listener, session, m, memfd, ends, &reply_err);
	if (incoming_err != 0) {
		close(ends[0]);
		close(ends[1]);
		if (incoming_err < 0)
			throw Napi::Error::New(env, "grantCircuit: the C codec refused the grant's messages");
	}
	Napi::Object out = Napi::Object::New(env);
	out.Set("incomingErrno", incoming_err);
	out.Set("replyErrno", reply_err);
	return out;
}

} // namespace

void InitGrant(Napi::Env env, Napi::Object exports)
{
	exports.Set("grantCircuit", Napi::Function::New(env, GrantCircuit));
}
