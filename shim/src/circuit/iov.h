/*
 * A position in a caller's iovec array, and copies between it and a ring.
 */
#ifndef SB_CIRCUIT_IOV_H
#define SB_CIRCUIT_IOV_H

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "ring.h"

struct sb_iov_cursor {
	const struct iovec *iov;
	int count;
	int index;     /* current element */
	size_t offset; /* bytes of iov[index] already used */
};

/* The iovec array's total length, or -EINVAL (negative count, or more than SSIZE_MAX bytes, as the kernel says). */
static inline int sb_iov_total(const struct iovec *iov, int count, size_t *total)
{
	size_t sum = 0;
	if (count < 0 || (count > 0 && iov == NULL))
		return -EINVAL;
	for (int i = 0; i < count; i++) {
		if (iov[i].iov_len > (size_t)SSIZE_MAX - sum)
			return -EINVAL;
		sum += iov[i].iov_len;
	}
	*total = sum;
	return 0;
}

static inline struct sb_iov_cursor sb_iov_cursor(const struct iovec *iov, int count)
{
	return (struct sb_iov_cursor){ .iov = iov, .count = count, .index = 0, .offset = 0 };
}

/* Copies n bytes (the caller knows the iovecs hold them) from the cursor into the ring at index `at`. */
static inline void sb_iov_to_ring(struct sb_iov_cursor *c, struct sb_ring_end *r, uint64_t at, size_t n)
{
	while (n > 0) {
		const struct iovec *v = &c->iov[c->index];
		size_t k = v->iov_len - c->offset;
		if (k > n)
			k = n;
		sb_ring_write(r, at, (const unsigned char *)v->iov_base + c->offset, k);
		at += k;
		n -= k;
		c->offset += k;
		if (c->offset == v->iov_len) {
			c->index++;
			c->offset = 0;
		}
	}
}

/* Copies n bytes out of the ring from index `at` into the cursor's iovecs. */
static inline void sb_iov_from_ring(struct sb_iov_cursor *c, const struct sb_ring_end *r, uint64_t at, size_t n)
{
	while (n > 0) {
		const struct iovec *v = &c->iov[c->index];
		size_t k = v->iov_len - c->offset;
		if (k > n)
			k = n;
		sb_ring_read(r, at, (unsigned char *)v->iov_base + c->offset, k);
		at += k;
		n -= k;
		c->offset += k;
		if (c->offset == v->iov_len) {
			c->index++;
			c->offset = 0;
		}
	}
}

#endif
