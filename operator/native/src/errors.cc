#include "errors.h"

#include <cstring>
#include <string.h>

Napi::Error ErrnoError(Napi::Env env, int err, const std::string &what)
{
	const char *name = strerrorname_np(err);
	Napi::Error e = Napi::Error::New(env, what + ": " + strerror(err));
	e.Set("errno", Napi::Number::New(env, err));
	e.Set("code", Napi::String::New(env, name ? name : "EUNKNOWN"));
	return e;
}

int FdArg(const Napi::CallbackInfo &info, size_t index)
{
	if (info.Length() <= index || !info[index].IsNumber())
		throw Napi::TypeError::New(info.Env(), "expected an fd");
	int32_t fd = info[index].As<Napi::Number>().Int32Value();
	if (fd < 0)
		throw Napi::TypeError::New(info.Env(), "expected a non-negative fd");
	return fd;
}
