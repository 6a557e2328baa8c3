// A libuv poll handle owned by a JavaScript object (Watcher, ControlSession):
// closed at most once, freed by libuv's close callback, never touched after.
#ifndef SB_NATIVE_UV_POLL_HANDLE_H
#define SB_NATIVE_UV_POLL_HANDLE_H

#include <uv.h>

/* Detaches the handle from its owner and has libuv free it; *handle becomes null. */
static inline void sb_uv_poll_release(uv_poll_t **handle)
{
	if (*handle == nullptr)
		return;
	(*handle)->data = nullptr;
	uv_close(reinterpret_cast<uv_handle_t *>(*handle), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
	*handle = nullptr;
}

#endif
