/*
 * Creating a circuit: a sealed memfd laid out as layout.h describes.
 *
 * Only page 0 is written (the header; the control blocks start zeroed, as
 * every new memfd page does): a fresh memfd page costs ~2 µs to fault in, so
 * the rings are left untouched until data flows through them, and an idle
 * circuit costs one page of memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

static int sb_ring_size_or_default(uint64_t requested, uint64_t *out)
{
	uint64_t v = requested != 0 ? requested : sb_circuit_default_ring_size();
	if (v < SB_RING_MIN_SIZE || v > SB_RING_MAX_SIZE || (v & (v - 1)) != 0)
		return -EINVAL;
	*out = v;
	return 0;
}

int sb_circuit_create(const struct sb_circuit_geometry *g)
{
	if (g == NULL || (g->mode != SB_CIRCUIT_STREAM && g->mode != SB_CIRCUIT_DGRAM))
		return -EINVAL;
	struct sb_circuit_header h = {
		.magic = SB_CIRCUIT_MAGIC,
		.version = SB_CIRCUIT_VERSION,
		.mode = g->mode,
	};
	for (int i = 0; i < 2; i++) {
		int rc = sb_ring_size_or_default(g->ring_size[i], &h.ring_size[i]);
		if (rc < 0)
			return rc;
	}
	h.ring_offset[SB_RING_A] = SB_CIRCUIT_PAGE;
	h.ring_offset[SB_RING_B] = SB_CIRCUIT_PAGE + h.ring_size[SB_RING_A];
	h.total_size = h.ring_offset[SB_RING_B] + h.ring_size[SB_RING_B];

	int saved = errno;
	int rc;
	int fd = memfd_create("switchboard-circuit", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (ftruncate(fd, (off_t)h.total_size) < 0 || pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h) {
		rc = -errno;
		goto fail;
	}
	/* Neither side can resize it under the other (a mapping past the end faults), nor unseal it. */
	long sealed = sb_sys_fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	if (sealed < 0) {
		rc = (int)sealed;
		goto fail;
	}
	rc = fd;
	goto out;
fail:
	sb_sys_close(fd);
out:
	errno = saved;
	return rc;
}
