/*
 * zc_stream: move bytes through a socket in place when it is a circuit,
 * through send()/recv() when it is not.
 *
 * The zero-copy side of the ring benchmark and of the example program
 * sb-zc-stream.  It uses nothing but <switchboard/zerocopy.h> and the socket
 * API: the first zero-copy call that fails with EOPNOTSUPP or ENOTSOCK (not a
 * circuit) switches the stream to a bounce buffer and send()/recv() for good.
 */
#ifndef ZC_STREAM_H
#define ZC_STREAM_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Writes n bytes of the outgoing stream at dst (in the ring, or a bounce buffer). */
typedef void zcs_fill_fn(void *arg, void *dst, size_t n);
/* Reads n bytes of the incoming stream at src. */
typedef void zcs_use_fn(void *arg, const void *src, size_t n);

/* The rest of a reservation (tx) or of a peek (rx), used message by message. */
struct zcs_span {
	struct iovec iov[2];
	int cnt;
	size_t left;
};

struct zcs {
	int fd;
	struct zcs_span tx, rx;
	int fallback;            /* 0: zero-copy; otherwise the errno that made us fall back */
	unsigned char *bounce;   /* fallback only */
	size_t bounce_len;
};

void zcs_init(struct zcs *s, int fd);
void zcs_free(struct zcs *s);
/* Sends exactly len bytes, produced by fill.  0, or -1 with errno. */
int zcs_write(struct zcs *s, size_t len, zcs_fill_fn *fill, void *arg);
/* Receives len bytes (fewer only at EOF), handing them to use.  The count, or -1 with errno. */
ssize_t zcs_read(struct zcs *s, size_t len, zcs_use_fn *use, void *arg);

#endif
