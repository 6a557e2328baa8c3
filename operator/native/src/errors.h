/* Errors thrown into JavaScript carry the errno as `errno` and its name as `code`, like Node's own. */
#ifndef SB_NATIVE_ERRORS_H
#define SB_NATIVE_ERRORS_H

#include <napi.h>

/* A JavaScript Error for errno `err` during `what` (for instance "connect /run/x.sock"). */
Napi::Error ErrnoError(Napi::Env env, int err, const std::string &what);

/* The fd argument at `index`: a non-negative int32, or a TypeError. */
int FdArg(const Napi::CallbackInfo &info, size_t index);

#endif
