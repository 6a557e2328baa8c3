/* See circuit_memory.h. */
#include "circuit_memory.h"

#include <errno.h>
#include <stddef.h>
#include <unistd.h>

#include "circuit.h"
#include "layout.h"

int sb_native_circuit_create(uint32_t mode, uint64_t ring_a, uint64_t ring_b, struct sb_native_geometry *out)
{
	struct sb_circuit_geometry g = { .mode = mode, .ring_size = { ring_a, ring_b } };
	int fd = sb_circuit_create(&g);
	if (fd < 0)
		return fd;
	/* The header is the creator's, written once: read back what the library chose. */
	struct sb_circuit_header h;
	ssize_t n = pread(fd, &h, sizeof h, 0);
	if (n != (ssize_t)sizeof h || h.magic != SB_CIRCUIT_MAGIC) {
		int err = n < 0 ? errno : EPROTO;
		close(fd);
		return -err;
	}
	out->layout = h.version;
	out->mode = h.mode;
	out->memfd_bytes = h.total_size;
	for (int r = 0; r < 2; r++) {
		out->ring_offset[r] = h.ring_offset[r];
		out->ring_size[r] = h.ring_size[r];
	}
	return fd;
}

int sb_native_ring_counters(int memfd, uint64_t out[SB_NATIVE_RING_COUNTERS])
{
	/* Plain (non-atomic) reads through pread are fine: the values are
	 * monotonic counters shown to humans, and a torn read is impossible for
	 * aligned 8-byte words copied by the kernel. */
	static const size_t at[SB_NATIVE_RING_COUNTERS] = {
		offsetof(struct sb_circuit_shared, ring[SB_RING_A].prod),
		offsetof(struct sb_circuit_shared, ring[SB_RING_A].cons),
		offsetof(struct sb_circuit_shared, ring[SB_RING_B].prod),
		offsetof(struct sb_circuit_shared, ring[SB_RING_B].cons),
		offsetof(struct sb_circuit_shared, ring[SB_RING_A].prod_records),
		offsetof(struct sb_circuit_shared, ring[SB_RING_B].prod_records),
		offsetof(struct sb_circuit_shared, ring[SB_RING_A].prod_dropped),
		offsetof(struct sb_circuit_shared, ring[SB_RING_B].prod_dropped),
	};
	for (int i = 0; i < SB_NATIVE_RING_COUNTERS; i++) {
		uint64_t v;
		if (pread(memfd, &v, sizeof v, (off_t)at[i]) != (ssize_t)sizeof v)
			return errno ? -errno : -EIO;
		out[i] = v;
	}
	return 0;
}
