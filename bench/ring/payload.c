/*
 * The payload work, identical for every transport: the sender writes word k
 * of the stream as the value k, the receiver checks every word.  Both loops
 * are simple enough for the compiler to vectorise (this file is built -O3),
 * so they cost about as much as reading or writing the bytes once.
 */
#include <string.h>

#include "bench.h"

/* Byte i of the stream, for the unaligned edges. */
static inline unsigned char stream_byte(uint64_t i)
{
	return (unsigned char)((i >> 3) >> ((i & 7) * 8));
}

void payload_fill(void *dst, size_t len, uint64_t off)
{
	unsigned char *p = dst;
	while (len > 0 && (off & 7)) {
		*p++ = stream_byte(off++);
		len--;
	}
	size_t words = len / 8;
	uint64_t k = off / 8;
	uint64_t *w = (uint64_t *)(void *)p; /* the ring and our buffers are 8-aligned at 8-aligned offsets */
	if (((uintptr_t)p & 7) == 0) {
		for (size_t i = 0; i < words; i++)
			w[i] = k + i;
	} else {
		for (size_t i = 0; i < words; i++) {
			uint64_t v = k + i;
			memcpy(p + 8 * i, &v, 8);
		}
	}
	p += 8 * words;
	off += 8 * words;
	len -= 8 * words;
	while (len > 0) {
		*p++ = stream_byte(off++);
		len--;
	}
}

uint64_t payload_check(const void *src, size_t len, uint64_t off)
{
	const unsigned char *p = src;
	uint64_t bad = 0;
	while (len > 0 && (off & 7)) {
		bad |= *p++ ^ stream_byte(off++);
		len--;
	}
	size_t words = len / 8;
	uint64_t k = off / 8;
	if (((uintptr_t)p & 7) == 0) {
		const uint64_t *w = (const uint64_t *)(const void *)p;
		for (size_t i = 0; i < words; i++)
			bad |= w[i] ^ (k + i);
	} else {
		for (size_t i = 0; i < words; i++) {
			uint64_t v;
			memcpy(&v, p + 8 * i, 8);
			bad |= v ^ (k + i);
		}
	}
	p += 8 * words;
	off += 8 * words;
	len -= 8 * words;
	while (len > 0) {
		bad |= *p++ ^ stream_byte(off++);
		len--;
	}
	return bad;
}
