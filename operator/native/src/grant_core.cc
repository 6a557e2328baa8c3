/* See grant_core.h. */
#include "grant_core.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>

#include "circuit_memory.h"

uint64_t SocketCookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof cookie;
	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
	return cookie;
}

int MakeFreshCircuit(uint32_t mode, FreshCircuit *out)
{
	sb_native_geometry g{};
	int memfd = sb_native_circuit_create(mode, 0, 0, &g);
	if (memfd < 0)
		return -memfd;
	/* SOCK_STREAM for datagram circuits too: the endpoint's hang-up (POLLHUP) is
	 * how a side learns that the other's last holder is gone (shim: attach.c). */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, out->ends) < 0) {
		int err = errno;
		close(memfd);
		return err;
	}
	out->memfd = memfd;
	out->geometry = sb_proto_geometry{};
	out->geometry.layout = (uint16_t)g.layout;
	out->geometry.memfd_bytes = g.memfd_bytes;
	out->geometry.ring_a_offset = g.ring_offset[0];
	out->geometry.ring_a_bytes = (uint32_t)g.ring_size[0];
	out->geometry.ring_b_offset = g.ring_offset[1];
	out->geometry.ring_b_bytes = (uint32_t)g.ring_size[1];
	out->cookies[0] = SocketCookie(out->ends[0]);
	out->cookies[1] = SocketCookie(out->ends[1]);
	return 0;
}

void CloseFreshCircuit(const FreshCircuit &f)
{
	close(f.memfd);
	close(f.ends[0]);
	close(f.ends[1]);
}

Napi::Object GeometryValue(Napi::Env env, const sb_proto_geometry &g)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("layout", g.layout);
	o.Set("memfdBytes", Napi::BigInt::New(env, g.memfd_bytes));
	o.Set("ringAOffset", Napi::BigInt::New(env, g.ring_a_offset));
	o.Set("ringABytes", (double)g.ring_a_bytes);
	o.Set("ringBOffset", Napi::BigInt::New(env, g.ring_b_offset));
	o.Set("ringBBytes", (double)g.ring_b_bytes);
	return o;
}

Napi::Object FreshCircuitValue(Napi::Env env, const FreshCircuit &f)
{
	Napi::Object o = Napi::Object::New(env);
	o.Set("memfd", f.memfd);
	o.Set("geometry", GeometryValue(env, f.geometry));
	o.Set("connectorFd", f.ends[0]);
	o.Set("acceptorFd", f.ends[1]);
	o.Set("connectorCookie", Napi::BigInt::New(env, f.cookies[0]));
	o.Set("acceptorCookie", Napi::BigInt::New(env, f.cookies[1]));
	return o;
}

sb_proto_addr WireAddress(Napi::Env env, Napi::Value v)
{
	if (!v.IsArray())
		throw Napi::TypeError::New(env, "an address is [family, text, port]");
	Napi::Array a = v.As<Napi::Array>();
	std::string family = a.Get(0u).As<Napi::String>();
	std::string text = a.Get(1u).As<Napi::String>();
	sb_proto_addr out{};
	out.port = (uint16_t)a.Get(2u).As<Napi::Number>().Uint32Value();
	out.family = family == "inet" ? AF_INET : AF_INET6;
	if ((family != "inet" && family != "inet6") || inet_pton(out.family, text.c_str(), out.addr) != 1)
		throw Napi::TypeError::New(env, "not an address: " + family + " " + text);
	return out;
}

Napi::Object AddressValue(Napi::Env env, const sb_proto_addr &a)
{
	char text[INET6_ADDRSTRLEN] = "";
	inet_ntop(a.family, a.addr, text, sizeof text);
	Napi::Object o = Napi::Object::New(env);
	o.Set("family", a.family == AF_INET ? "inet" : "inet6");
	o.Set("address", text);
	o.Set("port", a.port);
	if (a.family == AF_INET6) {
		o.Set("flowinfo", (double)a.flowinfo);
		o.Set("scopeId", (double)a.scope_id);
	}
	return o;
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

int SendGrant(int listener_fd, int session_fd, const GrantMessages &m, int memfd, const int ends[2], int *reply_err)
{
	sb_proto_incoming in{};
	in.circuit = m.circuit;
	in.socket_type = m.stream ? SB_PROTO_SOCKET_TYPE_STREAM : SB_PROTO_SOCKET_TYPE_DGRAM;
	in.geometry = m.geometry;
	in.local = m.acceptor_local;
	in.peer = m.acceptor_peer;
	sb_proto_connect_granted granted{};
	granted.circuit = m.circuit;
	granted.geometry = m.geometry;
	granted.local = m.connector_local;
	granted.peer = m.connector_peer;
	granted.in_progress = false;
	unsigned char incoming_buf[SB_PROTO_MAX_MESSAGE_SIZE], reply_buf[SB_PROTO_MAX_MESSAGE_SIZE];
	size_t incoming_len, reply_len;
	if (sb_proto_encode_incoming(0, &in, incoming_buf, sizeof incoming_buf, &incoming_len) != SB_PROTO_OK ||
	    sb_proto_encode_connect_granted(m.request_id, &granted, reply_buf, sizeof reply_buf, &reply_len) != SB_PROTO_OK)
		return -EPROTO;
	/* incoming first: once connect() returns, the listening fd is readable (as
	 * on Linux, where the connection is in the accept queue by then). */
	int err = SendWithFds(listener_fd, incoming_buf, incoming_len, memfd, ends[1]);
	if (err != 0)
		return err;
	close(ends[1]);
	/* The receiver learns from its mailbox that a new peer is queued, before
	 * the connector can send its first datagram (protocol: mailbox_reply).
	 * One aligned 8-byte pwrite: a reader sees the old or the new count. */
	if (m.mailbox_fd >= 0)
		(void)!pwrite(m.mailbox_fd, &m.mailbox_count, sizeof m.mailbox_count, 0);
	*reply_err = SendWithFds(session_fd, reply_buf, reply_len, memfd, ends[0]);
	close(ends[0]);
	return 0;
}
