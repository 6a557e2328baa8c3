/*
 * The connect hot path, in native code: make the circuit's endpoint pair,
 * queue `incoming` (memfd + acceptor end) on the listener's port and send
 * `connect_granted` (memfd + connector end) to the connecting session, both
 * encoded by the generated C codec (build/gen/c/sb_protocol.c, the same spec
 * as the TypeScript one), then close the operator's copies of the ends.
 * JavaScript has already decided everything (policy, listener, addresses,
 * backlog); this saves a dozen crossings and two JS encodings per connect.
 *
 *   grantCircuit({ listenerFd, sessionFd, memfd, connectorFd, acceptorFd, stream, circuit,
 *                  requestId, geometry, connectorLocal, connectorPeer, acceptorLocal, acceptorPeer })
 *     -> { incomingErrno, replyErrno }
 *
 * The endpoint pair comes ready-made (endpointPair(), with the memfd in the
 * operator's pool), so nothing is created on the connect path; grantCircuit
 * closes both ends, whatever happens.
 *
 * Addresses are [family ('inet' | 'inet6'), text, port].  incomingErrno != 0:
 * nothing was sent to anyone (EAGAIN: the listener's queue is full).
 */
#include <napi.h>

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

#include "errors.h"

extern "C" {
#include "sb_protocol.h"
}

namespace {

sb_proto_addr Addr(Napi::Env env, Napi::Value v)
{
	Napi::Array a = v.As<Napi::Array>();
	std::string family = a.Get(0u).As<Napi::String>();
	std::string text = a.Get(1u).As<Napi::String>();
	sb_proto_addr out{};
	out.port = (uint16_t)a.Get(2u).As<Napi::Number>().Uint32Value();
	if (family == "inet") {
		out.family = AF_INET;
		if (inet_pton(AF_INET, text.c_str(), out.addr) != 1)
			throw Napi::TypeError::New(env, "grantCircuit: bad IPv4 address " + text);
	} else {
		out.family = AF_INET6;
		if (inet_pton(AF_INET6, text.c_str(), out.addr) != 1)
			throw Napi::TypeError::New(env, "grantCircuit: bad IPv6 address " + text);
	}
	return out;
}

uint64_t Big(Napi::Value v)
{
	bool lossless;
	return v.As<Napi::BigInt>().Uint64Value(&lossless);
}

int SendWithFds(int fd, const void *buf, size_t len, int a, int b)
{
	iovec iov{const_cast<void *>(buf), len};
	char control[CMSG_SPACE(2 * sizeof(int))];
	msghdr mh{};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control;
	mh.msg_controllen = sizeof control;
	cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	int fds[2] = {a, b};
	memcpy(CMSG_DATA(c), fds, sizeof fds);
	ssize_t n;
	do
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n < 0 ? errno : 0;
}

uint64_t Cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof cookie;
	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
	return cookie;
}

Napi::Value GrantCircuit(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	Napi::Object o = info[0].As<Napi::Object>();
	int listener = o.Get("listenerFd").As<Napi::Number>().Int32Value();
	int session = o.Get("sessionFd").As<Napi::Number>().Int32Value();
	int memfd = o.Get("memfd").As<Napi::Number>().Int32Value();
	int connector = o.Get("connectorFd").As<Napi::Number>().Int32Value();
	int acceptor = o.Get("acceptorFd").As<Napi::Number>().Int32Value();
	bool stream = o.Get("stream").ToBoolean();
	uint64_t circuit = Big(o.Get("circuit"));
	uint32_t request_id = o.Get("requestId").As<Napi::Number>().Uint32Value();
	Napi::Object g = o.Get("geometry").As<Napi::Object>();
	sb_proto_geometry geometry{};
	geometry.layout = (uint16_t)g.Get("layout").As<Napi::Number>().Uint32Value();
	geometry.memfd_bytes = Big(g.Get("memfdBytes"));
	geometry.ring_a_offset = Big(g.Get("ringAOffset"));
	geometry.ring_a_bytes = g.Get("ringABytes").As<Napi::Number>().Uint32Value();
	geometry.ring_b_offset = Big(g.Get("ringBOffset"));
	geometry.ring_b_bytes = g.Get("ringBBytes").As<Napi::Number>().Uint32Value();

	sb_proto_incoming in{};
	in.circuit = circuit;
	in.socket_type = stream ? SB_PROTO_SOCKET_TYPE_STREAM : SB_PROTO_SOCKET_TYPE_DGRAM;
	in.geometry = geometry;
	in.local = Addr(env, o.Get("acceptorLocal"));
	in.peer = Addr(env, o.Get("acceptorPeer"));
	sb_proto_connect_granted granted{};
	granted.circuit = circuit;
	granted.geometry = geometry;
	granted.local = Addr(env, o.Get("connectorLocal"));
	granted.peer = Addr(env, o.Get("connectorPeer"));
	granted.in_progress = false;

	unsigned char incoming_buf[SB_PROTO_MAX_MESSAGE_SIZE], reply_buf[SB_PROTO_MAX_MESSAGE_SIZE];
	size_t incoming_len, reply_len;
	if (sb_proto_encode_incoming(0, &in, incoming_buf, sizeof incoming_buf, &incoming_len) != SB_PROTO_OK ||
	    sb_proto_encode_connect_granted(request_id, &granted, reply_buf, sizeof reply_buf, &reply_len) != SB_PROTO_OK) {
		close(connector);
		close(acceptor);
		throw Napi::Error::New(env, "grantCircuit: the C codec refused the grant's messages");
	}
	int sv[2] = {connector, acceptor};
	Napi::Object out = Napi::Object::New(env);
	/* incoming first: once connect() returns, the listening fd is readable (as
	 * on Linux, where the connection is in the accept queue by then).  If the
	 * listener cannot take it, nothing is sent and JavaScript answers. */
	int incoming_err = SendWithFds(listener, incoming_buf, incoming_len, memfd, sv[1]);
	close(sv[1]);
	int reply_err = incoming_err ? 0 : SendWithFds(session, reply_buf, reply_len, memfd, sv[0]);
	close(sv[0]);
	out.Set("incomingErrno", incoming_err);
	out.Set("replyErrno", reply_err);
	return out;
}

/* endpointPair(stream) -> { connectorFd, acceptorFd, connectorCookie, acceptorCookie }: a circuit's two ends, made ahead. */
Napi::Value EndpointPair(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	bool stream = info[0].ToBoolean();
	int sv[2];
	if (socketpair(AF_UNIX, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0, sv) < 0)
		throw ErrnoError(env, errno, "socketpair");
	Napi::Object out = Napi::Object::New(env);
	out.Set("connectorFd", sv[0]);
	out.Set("acceptorFd", sv[1]);
	out.Set("connectorCookie", Napi::BigInt::New(env, Cookie(sv[0])));
	out.Set("acceptorCookie", Napi::BigInt::New(env, Cookie(sv[1])));
	return out;
}

} // namespace

void InitGrant(Napi::Env env, Napi::Object exports)
{
	exports.Set("grantCircuit", Napi::Function::New(env, GrantCircuit));
	exports.Set("endpointPair", Napi::Function::New(env, EndpointPair));
}
