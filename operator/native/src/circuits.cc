/* Circuit memory for JavaScript: the ring counters, and pread/pwrite/seals for test clients. (Circuits are made in circuit_pool.cc.) */
#include <napi.h>

#include <cerrno>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <vector>

#include "circuit_memory.h"
#include "errors.h"

namespace {

/* ringCounters(memfd) -> BigUint64Array [A prod, A cons, B prod, B cons, A datagrams, B datagrams]. */
Napi::Value RingCounters(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = FdArg(info, 0);
	uint64_t v[SB_NATIVE_RING_COUNTERS];
	int r = sb_native_ring_counters(fd, v);
	if (r < 0)
		throw ErrnoError(env, -r, "read ring counters");
	Napi::BigUint64Array out = Napi::BigUint64Array::New(env, SB_NATIVE_RING_COUNTERS);
	for (size_t i = 0; i < SB_NATIVE_RING_COUNTERS; i++)
		out[i] = v[i];
	return out;
}

/* memfdRead(fd, offset, length) / memfdWrite(fd, offset, bytes): pread/pwrite, for test clients that
 * prove two processes share a circuit's memory.  memfdSeals(fd) -> F_GET_SEALS. */
Napi::Value MemfdRead(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = FdArg(info, 0);
	int64_t off = info[1].As<Napi::Number>().Int64Value();
	uint32_t len = info[2].As<Napi::Number>().Uint32Value();
	std::vector<unsigned char> buf(len ? len : 1);
	ssize_t n = pread(fd, buf.data(), len, off);
	if (n < 0)
		throw ErrnoError(env, errno, "pread");
	return Napi::Buffer<unsigned char>::Copy(env, buf.data(), (size_t)n);
}

Napi::Value MemfdWrite(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = FdArg(info, 0);
	int64_t off = info[1].As<Napi::Number>().Int64Value();
	Napi::Uint8Array b = info[2].As<Napi::Uint8Array>();
	ssize_t n = pwrite(fd, b.Data(), b.ByteLength(), off);
	if (n < 0)
		throw ErrnoError(env, errno, "pwrite");
	return Napi::Number::New(env, (double)n);
}

/* createMailbox() -> fd: a sealed one-page memfd of zeros, a datagram reservation's mailbox (protocol: mailbox_reply). */
Napi::Value CreateMailbox(const Napi::CallbackInfo &info)
{
	Napi::Env env = info.Env();
	int fd = memfd_create("switchboard-mailbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		throw ErrnoError(env, errno, "memfd_create");
	if (ftruncate(fd, 4096) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int err = errno;
		close(fd);
		throw ErrnoError(env, err, "mailbox memfd");
	}
	return Napi::Number::New(env, fd);
}

Napi::Value MemfdSeals(const Napi::CallbackInfo &info)
{
	int seals = fcntl(FdArg(info, 0), F_GET_SEALS);
	if (seals < 0)
		throw ErrnoError(info.Env(), errno, "F_GET_SEALS");
	return Napi::Number::New(info.Env(), seals);
}

} // namespace

void InitCircuits(Napi::Env env, Napi::Object exports)
{
	exports.Set("ringCounters", Napi::Function::New(env, RingCounters));
	exports.Set("memfdRead", Napi::Function::New(env, MemfdRead));
	exports.Set("memfdWrite", Napi::Function::New(env, MemfdWrite));
	exports.Set("createMailbox", Napi::Function::New(env, CreateMailbox));
	exports.Set("memfdSeals", Napi::Function::New(env, MemfdSeals));
}
