/*
 * Watcher: an fd watched on libuv's loop (uv_poll), calling back into
 * JavaScript with what happened.  The operator watches its tenant sockets,
 * control connections and its ends of port pairs this way, so readiness
 * comes from the same epoll as the rest of Node.
 *
 *   const w = new Watcher(fd, (events) => …);  // events: READABLE | DISCONNECT bits, or a negative uv error
 *   w.close();                                 // before closing the fd
 *
 * close() removes the fd from epoll at once (uv_close), so the fd may be
 * closed right after it, even before libuv frees the handle.
 */
#include <napi.h>
#include <uv.h>

#include "errors.h"
#include "uv_poll_handle.h"

namespace {

constexpr int kReadable = 1;
constexpr int kDisconnect = 4;

class Watcher : public Napi::ObjectWrap<Watcher> {
public:
	static Napi::Function Define(Napi::Env env)
	{
		return DefineClass(env, "Watcher", {InstanceMethod("close", &Watcher::Close)});
	}

	explicit Watcher(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Watcher>(info)
	{
		Napi::Env env = info.Env();
		int fd = FdArg(info, 0);
		callback_ = Napi::Persistent(info[1].As<Napi::Function>());
		uv_loop_t *loop = nullptr;
		if (napi_get_uv_event_loop(env, &loop) != napi_ok)
			throw Napi::Error::New(env, "Watcher: no event loop");
		handle_ = new uv_poll_t;
		int r = uv_poll_init(loop, handle_, fd);
		if (r == 0)
			r = uv_poll_start(handle_, UV_READABLE | UV_DISCONNECT, OnEvent);
		if (r != 0) {
			delete handle_;
			handle_ = nullptr;
			throw Napi::Error::New(env, std::string("Watcher: ") + uv_strerror(r));
		}
		handle_->data = this;
		env_ = env;
		Ref(); /* alive while watching, even if JavaScript drops it */
	}

	~Watcher() override { Release(); }

private:
	static void OnEvent(uv_poll_t *h, int status, int events)
	{
		Watcher *self = static_cast<Watcher *>(h->data);
		if (!self)
			return;
		Napi::Env env = self->env_;
		Napi::HandleScope scope(env);
		int what = status < 0 ? status : ((events & UV_READABLE) ? kReadable : 0) | ((events & UV_DISCONNECT) ? kDisconnect : 0);
		try {
			self->callback_.MakeCallback(env.Global(), {Napi::Number::New(env, what)});
		} catch (const Napi::Error &e) {
			napi_fatal_exception(env, e.Value());
		}
	}

	void Release() { sb_uv_poll_release(&handle_); }

	Napi::Value Close(const Napi::CallbackInfo &info)
	{
		if (handle_) {
			Release();
			Unref();
		}
		return info.Env().Undefined();
	}

	uv_poll_t *handle_ = nullptr;
	Napi::FunctionReference callback_;
	Napi::Env env_ = nullptr;
};

} // namespace

void InitWatcher(Napi::Env env, Napi::Object exports)
{
	exports.Set("Watcher", Watcher::Define(env));
	exports.Set("READABLE", kReadable);
	exports.Set("DISCONNECT", kDisconnect);
}
