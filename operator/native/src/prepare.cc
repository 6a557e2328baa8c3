/*
 * Making circuits ahead of time, off the event loop: prepareCircuits(mode,
 * count, callback) creates `count` circuit memfds (through the circuit
 * library) with their endpoint pairs on libuv's thread pool, and calls back
 * with them — (error) or (null, [{ fd, layout, …, connectorFd, acceptorFd,
 * connectorCookie, acceptorCookie }]).  The operator keeps a small pool of
 * these, so a connect creates nothing and the refill does not hold up the
 * next request.
 */
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

#include "circuit_memory.h"
#include "errors.h"

namespace {

struct Prepared {
	int memfd;
	sb_native_geometry g;
	int ends[2];
	uint64_t cookies[2];
};

uint64_t Cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof cookie;
	getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len);
	return cookie;
}

class PrepareWorker : public Napi::AsyncWorker {
public:
	PrepareWorker(Napi::Function cb, uint32_t mode, uint32_t count) : Napi::AsyncWorker(cb), mode_(mode), count_(count) {}

	~PrepareWorker() override
	{
		for (const Prepared &p : done_) {
			if (p.memfd >= 0) {
				close(p.memfd);
				close(p.ends[0]);
				close(p.ends[1]);
			}
		}
	}

	void Execute() override
	{
		for (uint32_t i = 0; i < count_; i++) {
			Prepared p{};
			p.memfd = sb_native_circuit_create(mode_, 0, 0, &p.g);
			if (p.memfd < 0) {
				err_ = -p.memfd;
				break;
			}
			int type = mode_ == 1 ? SOCK_STREAM : SOCK_DGRAM;
			if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, p.ends) < 0) {
				err_ = errno;
				close(p.memfd);
				break;
			}
			p.cookies[0] = Cookie(p.ends[0]);
			p.cookies[1] = Cookie(p.ends[1]);
			done_.push_back(p);
		}
		if (done_.empty() && err_ != 0)
			SetError("prepare circuits: " + std::string(strerror(err_)));
	}

	void OnOK() override
	{
		Napi::Env env = Env();
		Napi::Array out = Napi::Array::New(env, done_.size());
		for (size_t i = 0; i < done_.size(); i++) {
			Prepared &p = done_[i];
			Napi::Object o = Napi::Object::New(env);
			o.Set("fd", p.memfd);
			o.Set("layout", p.g.layout);
			o.Set("mode", p.g.mode);
			o.Set("memfdBytes", Napi::BigInt::New(env, p.g.memfd_bytes));
			o.Set("ringAOffset", Napi::BigInt::New(env, p.g.ring_offset[0]));
			o.Set("ringABytes", (double)p.g.ring_size[0]);
			o.Set("ringBOffset", Napi::BigInt::New(env, p.g.ring_offset[1]));
			o.Set("ringBBytes", (double)p.g.ring_size[1]);
			o.Set("connectorFd", p.ends[0]);
			o.Set("acceptorFd", p.ends[1]);
			o.Set("connectorCookie", Napi::BigInt::New(env, p.cookies[0]));
			o.Set("acceptorCookie", Napi::BigInt::New(env, p.cookies[1]));
			out.Set((uint32_t)i, o);
			p.memfd = -1; /* JavaScript owns them now */
		}
		Callback().Call({env.Null(), out});
	}

private:
	uint32_t mode_, count_;
	int err_ = 0;
	std::vector<Prepared> done_;
};

Napi::Value PrepareCircuits(const Napi::CallbackInfo &info)
{
	uint32_t mode = info[0].As<Napi::Number>().Uint32Value();
	uint32_t count = info[1].As<Napi::Number>().Uint32Value();
	auto *w = new PrepareWorker(info[2].As<Napi::Function>(), mode, count);
	w->Queue();
	return info.Env().Undefined();
}

} // namespace

void InitPrepare(Napi::Env env, Napi::Object exports)
{
	exports.Set("prepareCircuits", Napi::Function::New(env, PrepareCircuits));
}
