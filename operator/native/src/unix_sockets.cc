/*
 * AF_UNIX sockets the operator and test clients need and Node lacks:
 * SOCK_SEQPACKET listen/connect/accept with SO_PEERCRED, socket pairs, and
 * sendmsg/recvmsg with SCM_RIGHTS.  Data calls never throw for I/O errors:
 * they return what happened, and the caller (which knows whether the peer is
 * a tenant or a test) decides.  Every fd created here is O_CLOEXEC.
 */
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

#include "errors.h"

namespace {

sockaddr_un UnixAddress(Napi::Env env, const std::string &path, socklen_t *len)
{
	sockaddr_un sa{};
	sa.sun_family = AF_UNIX;
	if (path.empty() || path.size() >= sizeof sa.sun_path)
		throw ErrnoError(env, ENAMETOOLONG, "unix socket path " + path);
	memcpy(sa.sun_path, path.data(), path.size());
	*len = (socklen_t)(offsetof(sockaddr_un, sun_path) + path.size() + 1);
	return sa;
}

/* listenSeqpacket(path, backlog) -> fd (non-blocking). */
Napi::Value ListenSeqpacket(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string path = info[0].As<Napi::String>();
	int backlog = info[1].As<Napi::Number>().Int32Value();
	socklen_t len;
	sockaddr_un sa = UnixAddress(env, path, &len);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		throw ErrnoError(env, errno, "socket");
	if (bind(fd, (sockaddr *)&sa, len) < 0 || listen(fd, backlog) < 0) {
		int err = errno;
		close(fd);
		throw ErrnoError(env, err, "listen on " + path);
	}
	return Napi::Number::New(env, fd);
}

/* connectSeqpacket(path, nonblocking) -> fd. */
Napi::Value ConnectSeqpacket(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string path = info[0].As<Napi::String>();
	bool nonblocking = info.Length() > 1 && info[1].ToBoolean();
	socklen_t len;
	sockaddr_un sa = UnixAddress(env, path, &len);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
	if (fd < 0)
		throw ErrnoError(env, errno, "socket");
	if (connect(fd, (sockaddr *)&sa, len) < 0) {
		int err = errno;
		close(fd);
		throw ErrnoError(env, err, "connect to " + path);
	}
	return Napi::Number::New(env, fd);
}

/* acceptPeer(listenFd) -> { fd, pid, uid, gid } or null when nobody is waiting. */
Napi::Value AcceptPeer(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int lfd = FdArg(info, 0);
	int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED || errno == EINTR)
			return env.Null();
		throw ErrnoError(env, errno, "accept");
	}
	ucred cred{};
	socklen_t clen = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		int err = errno;
		close(fd);
		throw ErrnoError(env, err, "SO_PEERCRED");
	}
	Napi::Object o = Napi::Object::New(env);
	o.Set("fd", fd);
	o.Set("pid", (double)cred.pid);
	o.Set("uid", (double)cred.uid);
	o.Set("gid", (double)cred.gid);
	return o;
}

/* socketPair(kind: 'seqpacket' | 'stream' | 'dgram') -> [fd, fd], both blocking. */
Napi::Value SocketPair(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	std::string kind = info[0].As<Napi::String>();
	int type = kind == "seqpacket" ? SOCK_SEQPACKET : kind == "stream" ? SOCK_STREAM : kind == "dgram" ? SOCK_DGRAM : -1;
	if (type < 0)
		throw Napi::TypeError::New(env, "socketPair: kind is seqpacket, stream or dgram");
	int sv[2];
	if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0)
		throw ErrnoError(env, errno, "socketpair");
	Napi::Array a = Napi::Array::New(env, 2);
	a.Set(0u, sv[0]);
	a.Set(1u, sv[1]);
	return a;
}

/* sendMessage(fd, bytes, fds[]) -> 0, or the errno (EAGAIN, EPIPE, …): never blocks, never raises SIGPIPE. */
Napi::Value SendMessage(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = FdArg(info, 0);
	Napi::Uint8Array bytes = info[1].As<Napi::Uint8Array>();
	std::vector<int> fds;
	if (info.Length() > 2 && info[2].IsArray()) {
		Napi::Array a = info[2].As<Napi::Array>();
		for (uint32_t i = 0; i < a.Length(); i++)
			fds.push_back(a.Get(i).As<Napi::Number>().Int32Value());
	}
	iovec iov{bytes.Data(), bytes.ByteLength()};
	msghdr mh{};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	std::vector<char> control(CMSG_SPACE(sizeof(int) * (fds.empty() ? 1 : fds.size())));
	if (!fds.empty()) {
		mh.msg_control = control.data();
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
		cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
		memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
	}
	ssize_t n;
	do
		n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return Napi::Number::New(env, errno);
	return Napi::Number::New(env, n == (ssize_t)bytes.ByteLength() ? 0 : EMSGSIZE);
}

bool HungUp(int fd)
{
	pollfd p{fd, POLLIN | POLLRDHUP, 0};
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR));
}

/*
 * recvMessage(fd, maxBytes, maxFds) ->
 *   { kind: 'message', bytes, fds, truncated }   (truncated: MSG_TRUNC or MSG_CTRUNC, or a foreign cmsg)
 *   { kind: 'again' } | { kind: 'eof' } | { kind: 'error', errno }
 * A zero-length datagram is a message, not EOF: only a hung-up peer is EOF.
 */
Napi::Value RecvMessage(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = FdArg(info, 0);
	size_t max_bytes = info[1].As<Napi::Number>().Uint32Value();
	size_t max_fds = info[2].As<Napi::Number>().Uint32Value();
	std::vector<unsigned char> buf(max_bytes + 1);
	std::vector<char> control(CMSG_SPACE(sizeof(int) * (max_fds ? max_fds : 1)));
	iovec iov{buf.data(), buf.size()};
	msghdr mh{};
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.data();
	mh.msg_controllen = control.size();
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	Napi::Object o = Napi::Object::New(env);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			o.Set("kind", "again");
		} else {
			o.Set("kind", "error");
			o.Set("errno", errno);
		}
		return o;
	}
	bool truncated = (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0 || (size_t)n > max_bytes;
	Napi::Array fds = Napi::Array::New(env);
	uint32_t nfds = 0;
	for (cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < count; i++) {
				int rfd;
				memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof rfd);
				fds.Set(nfds++, rfd);
			}
		} else {
			truncated = true; /* nothing else is ever sent on these sockets */
		}
	}
	if (n == 0 && nfds == 0 && HungUp(fd)) {
		o.Set("kind", "eof");
		return o;
	}
	o.Set("kind", "message");
	o.Set("bytes", Napi::Buffer<unsigned char>::Copy(env, buf.data(), (size_t)n > max_bytes ? max_bytes : (size_t)n));
	o.Set("fds", fds);
	o.Set("truncated", truncated);
	return o;
}

Napi::Value CloseFd(const Napi::CallbackInfo &info)
{
	int fd = FdArg(info, 0);
	/* EINTR after close on Linux still closed the fd: never retry. */
	return Napi::Boolean::New(info.Env(), close(fd) == 0);
}

/* peerHungUp(fd) -> true when every holder of the other end has closed it. */
Napi::Value PeerHungUp(const Napi::CallbackInfo &info)
{
	return Napi::Boolean::New(info.Env(), HungUp(FdArg(info, 0)));
}

/* unsentBytes(fd) -> SIOCOUTQ: what this end sent that the peer has not read (kernel accounting units). */
Napi::Value UnsentBytes(const Napi::CallbackInfo &info)
{
	int fd = FdArg(info, 0);
	int n = 0;
	if (ioctl(fd, SIOCOUTQ, &n) < 0)
		throw ErrnoError(info.Env(), errno, "SIOCOUTQ");
	return Napi::Number::New(info.Env(), n);
}

/* setSendBuffer(fd, bytes) -> the size now in effect (SO_SNDBUFFORCE when privileged, else SO_SNDBUF). */
Napi::Value SetSendBuffer(const Napi::CallbackInfo &info)
{
	int fd = FdArg(info, 0);
	int want = info[1].As<Napi::Number>().Int32Value();
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want) < 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &want, sizeof want);
	int got = 0;
	socklen_t len = sizeof got;
	getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len);
	return Napi::Number::New(info.Env(), got);
}

/* waitReadable(fd, timeoutMs) -> true when readable (or hung up) in time. For clients and tests. */
Napi::Value WaitReadable(const Napi::CallbackInfo &info)
{
	int fd = FdArg(info, 0);
	int timeout = info[1].As<Napi::Number>().Int32Value();
	pollfd p{fd, POLLIN, 0};
	int r;
	do
		r = poll(&p, 1, timeout);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		throw ErrnoError(info.Env(), errno, "poll");
	return Napi::Boolean::New(info.Env(), r == 1);
}

Napi::Value SetNonblocking(const Napi::CallbackInfo &info)
{
	int fd = FdArg(info, 0);
	bool on = info[1].ToBoolean();
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) < 0)
		throw ErrnoError(info.Env(), errno, "fcntl");
	return info.Env().Undefined();
}

/* writeBytes(fd, bytes) / readBytes(fd, max): plain write/read, for doorbell bytes in tests. -errno on failure. */
Napi::Value WriteBytes(const Napi::CallbackInfo &info)
{
	int fd = FdArg(info, 0);
	Napi::Uint8Array b = info[1].As<Napi::Uint8Array>();
	ssize_t n = send(fd, b.Data(), b.ByteLength(), MSG_NOSIGNAL);
	return Napi::Number::New(info.Env(), n < 0 ? -errno : (double)n);
}

Napi::Value ReadBytes(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = FdArg(info, 0);
	size_t max = info[1].As<Napi::Number>().Uint32Value();
	std::vector<unsigned char> buf(max ? max : 1);
	ssize_t n = read(fd, buf.data(), max);
	if (n < 0)
		return Napi::Number::New(env, -errno);
	return Napi::Buffer<unsigned char>::Copy(env, buf.data(), (size_t)n);
}

} // namespace

void InitUnixSockets(Napi::Env env, Napi::Object exports)
{
	exports.Set("listenSeqpacket", Napi::Function::New(env, ListenSeqpacket));
	exports.Set("connectSeqpacket", Napi::Function::New(env, ConnectSeqpacket));
	exports.Set("acceptPeer", Napi::Function::New(env, AcceptPeer));
	exports.Set("socketPair", Napi::Function::New(env, SocketPair));
	exports.Set("sendMessage", Napi::Function::New(env, SendMessage));
	exports.Set("recvMessage", Napi::Function::New(env, RecvMessage));
	exports.Set("closeFd", Napi::Function::New(env, CloseFd));
	exports.Set("peerHungUp", Napi::Function::New(env, PeerHungUp));
	exports.Set("unsentBytes", Napi::Function::New(env, UnsentBytes));
	exports.Set("setSendBuffer", Napi::Function::New(env, SetSendBuffer));
	exports.Set("waitReadable", Napi::Function::New(env, WaitReadable));
	exports.Set("setNonblocking", Napi::Function::New(env, SetNonblocking));
	exports.Set("writeBytes", Napi::Function::New(env, WriteBytes));
	exports.Set("readBytes", Napi::Function::New(env, ReadBytes));
}
