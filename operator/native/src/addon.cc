/* switchboard_native.node: see ../CMakeLists.txt and operator/src/native.ts. */
#include <napi.h>

void InitUnixSockets(Napi::Env env, Napi::Object exports);
void InitIdentity(Napi::Env env, Napi::Object exports);
void InitCircuits(Napi::Env env, Napi::Object exports);
void InitWatcher(Napi::Env env, Napi::Object exports);
void InitGrant(Napi::Env env, Napi::Object exports);
void InitFastPath(Napi::Env env, Napi::Object exports);

static Napi::Object Init(Napi::Env env, Napi::Object exports)
{
	InitUnixSockets(env, exports);
	InitIdentity(env, exports);
	InitCircuits(env, exports);
	InitWatcher(env, exports);
	InitGrant(env, exports);
	InitFastPath(env, exports);
	return exports;
}

NODE_API_MODULE(switchboard_native, Init)
