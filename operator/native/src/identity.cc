/*
 * Who an fd is.  The operator recognises its own sockets by SO_COOKIE: a
 * 64-bit id the kernel gives each socket, unique until reboot and never
 * reused (inode numbers can be), and impossible to present without holding
 * the socket.  sock_diag lists the cookies of every AF_UNIX socket still
 * alive in the operator's network namespace (where it creates all circuit
 * and port socket pairs, wherever their holders live), which is how it
 * notices that both ends of a circuit are gone without holding either end
 * (holding one would hide the other side's death from its peer).
 */
#include <napi.h>

#include <cerrno>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

#include "errors.h"

namespace {

/* fdIdentity(fd) -> { socket, dev, ino, cookie } (cookie 0n for non-sockets). */
Napi::Value FdIdentity(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = FdArg(info, 0);
	struct stat st;
	if (fstat(fd, &st) < 0)
		throw ErrnoError(env, errno, "fstat");
	uint64_t cookie = 0;
	bool is_socket = S_ISSOCK(st.st_mode);
	if (is_socket) {
		socklen_t len = sizeof cookie;
		if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
			cookie = 0;
	}
	Napi::Object o = Napi::Object::New(env);
	o.Set("socket", is_socket);
	o.Set("dev", Napi::BigInt::New(env, (uint64_t)st.st_dev));
	o.Set("ino", Napi::BigInt::New(env, (uint64_t)st.st_ino));
	o.Set("cookie", Napi::BigInt::New(env, cookie));
	return o;
}

/* socketCookie(fd) -> bigint. */
Napi::Value SocketCookie(const Napi::CallbackInfo &info)
{
	int fd = FdArg(info, 0);
	uint64_t cookie = 0;
	socklen_t len = sizeof cookie;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) < 0)
		throw ErrnoError(info.Env(), errno, "SO_COOKIE");
	return Napi::BigInt::New(info.Env(), cookie);
}

/* liveUnixCookies() -> BigUint64Array of the cookies of all AF_UNIX sockets in this network namespace. */
Napi::Value LiveUnixCookies(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (nl < 0)
		throw ErrnoError(env, errno, "socket(NETLINK_SOCK_DIAG)");
	struct {
		nlmsghdr nlh;
		unix_diag_req req;
	} rq{};
	rq.nlh.nlmsg_len = sizeof rq;
	rq.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	rq.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	rq.req.sdiag_family = AF_UNIX;
	rq.req.udiag_states = ~0u;
	if (send(nl, &rq, sizeof rq, 0) < 0) {
		int err = errno;
		close(nl);
		throw ErrnoError(env, err, "sock_diag request");
	}
	std::vector<uint64_t> cookies;
	std::vector<char> buf(64 * 1024);
	bool done = false;
	while (!done) {
		ssize_t n = recv(nl, buf.data(), buf.size(), 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			int err = errno;
			close(nl);
			throw ErrnoError(env, err, "sock_diag dump");
		}
		int len = (int)n;
		for (nlmsghdr *h = (nlmsghdr *)buf.data(); NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			if (h->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (h->nlmsg_type == NLMSG_ERROR) {
				close(nl);
				const nlmsgerr *e = (const nlmsgerr *)NLMSG_DATA(h);
				throw ErrnoError(env, e->error ? -e->error : EIO, "sock_diag dump");
			}
			if (h->nlmsg_len < NLMSG_LENGTH(sizeof(unix_diag_msg)))
				continue;
			const unix_diag_msg *m = (const unix_diag_msg *)NLMSG_DATA(h);
			cookies.push_back((uint64_t)m->udiag_cookie[0] | ((uint64_t)m->udiag_cookie[1] << 32));
		}
	}
	close(nl);
	Napi::BigUint64Array out = Napi::BigUint64Array::New(env, cookies.size());
	for (size_t i = 0; i < cookies.size(); i++)
		out[i] = cookies[i];
	return out;
}

} // namespace

void InitIdentity(Napi::Env env, Napi::Object exports)
{
	exports.Set("fdIdentity", Napi::Function::New(env, FdIdentity));
	exports.Set("socketCookie", Napi::Function::New(env, SocketCookie));
	exports.Set("liveUnixCookies", Napi::Function::New(env, LiveUnixCookies));
}
