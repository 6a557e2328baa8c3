/*
 * Attaching to a circuit: validate the memfd and its header, map it, and set
 * up this endpoint's view of the two rings.
 *
 * The header is read once, validated and copied into the endpoint; it is
 * never read again, so a peer that rewrites it later changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "sys.h"

#define SB_REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

static bool sb_valid_ring(const struct sb_circuit_header *h, int i)
{
	uint64_t off = h->ring_offset[i], size = h->ring_size[i];
	return size >= SB_RING_MIN_SIZE && size <= SB_RING_MAX_SIZE && (size & (size - 1)) == 0 &&
	       off % SB_CIRCUIT_PAGE == 0 && off >= SB_CIRCUIT_PAGE && off <= h->total_size &&
	       size <= h->total_size - off;
}

/* Everything a hostile creator could get wrong in the header; sizes are also checked against the file. */
static bool sb_valid_header(const struct sb_circuit_header *h, uint64_t file_size)
{
	if (h->magic != SB_CIRCUIT_MAGIC || h->version != SB_CIRCUIT_VERSION || h->reserved != 0)
		return false;
	if (h->mode != SB_CIRCUIT_STREAM && h->mode != SB_CIRCUIT_DGRAM)
		return false;
	if (h->total_size != file_size || h->total_size % SB_CIRCUIT_PAGE != 0 ||
	    h->total_size > SB_CIRCUIT_PAGE + 2 * (uint64_t)SB_RING_MAX_SIZE)
		return false;
	if (!sb_valid_ring(h, SB_RING_A) || !sb_valid_ring(h, SB_RING_B))
		return false;
	/* The rings must not overlap each other (page 0 is excluded by off >= PAGE). */
	uint64_t a = h->ring_offset[SB_RING_A], b = h->ring_offset[SB_RING_B];
	return a < b ? a + h->ring_size[SB_RING_A] <= b : b + h->ring_size[SB_RING_B] <= a;
}

static void sb_ring_end_init(struct sb_ring_end *e, struct sb_circuit_shared *shm, const struct sb_circuit_header *h,
			     enum sb_ring_id id)
{
	*e = (struct sb_ring_end){
		.data = (unsigned char *)shm + h->ring_offset[id],
		.size = h->ring_size[id],
		.mask = h->ring_size[id] - 1,
		.ctl = &shm->ring[id],
		/* Both indices start at 0 by definition (the creator's pages are zero). */
		.local = 0,
		.cached_peer = 0,
		.spin_ns = sb_spin_initial_ns(),
	};
}

int sb_circuit_attach(struct sb_circuit *c, int memfd, int endpoint_fd, enum sb_circuit_role role)
{
	if (c == NULL || (role != SB_ROLE_CONNECTOR && role != SB_ROLE_ACCEPTOR) || endpoint_fd < 0)
		return -EINVAL;
	int saved = errno;
	int rc = -EPROTO;
	long seals = sb_sys_fcntl(memfd, F_GET_SEALS, 0);
	if (seals == -EBADF) {
		rc = -EBADF;
		goto out;
	}
	/* Not a memfd (EINVAL), or not sealed against resizing: refuse. */
	if (seals < 0 || (seals & SB_REQUIRED_SEALS) != SB_REQUIRED_SEALS || (seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)))
		goto out;
	struct stat st;
	if (fstat(memfd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	struct sb_circuit_header h;
	if (st.st_size < (off_t)SB_CIRCUIT_PAGE || pread(memfd, &h, sizeof h, 0) != (ssize_t)sizeof h ||
	    !sb_valid_header(&h, (uint64_t)st.st_size))
		goto out;
	void *map = mmap(NULL, (size_t)h.total_size, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (map == MAP_FAILED) {
		rc = -errno;
		goto out;
	}
	struct sb_circuit_shared *shm = map;
	*c = (struct sb_circuit){
		.shm = shm,
		.map_len = (size_t)h.total_size,
		.endpoint_fd = endpoint_fd,
		.mode = h.mode,
		.role = role,
	};
	sb_ring_end_init(&c->tx, shm, &h, role == SB_ROLE_CONNECTOR ? SB_RING_A : SB_RING_B);
	sb_ring_end_init(&c->rx, shm, &h, role == SB_ROLE_CONNECTOR ? SB_RING_B : SB_RING_A);
	atomic_init(&c->broken, 0);
	atomic_init(&c->shut_rd, false);
	atomic_init(&c->shut_wr, false);
	atomic_init(&c->peer_gone, SB_PEER_PRESENT);
	atomic_init(&c->doorbell_lock, 0);
	rc = 0;
out:
	errno = saved;
	return rc;
}

void sb_circuit_detach(struct sb_circuit *c)
{
	if (c == NULL || c->shm == NULL)
		return;
	int saved = errno;
	munmap(c->shm, c->map_len);
	errno = saved;
	c->shm = NULL;
	c->map_len = 0;
	c->tx.data = c->rx.data = NULL;
	c->tx.ctl = c->rx.ctl = NULL;
}

int sb_circuit_pair(const struct sb_circuit_geometry *g, struct sb_circuit *connector, struct sb_circuit *acceptor,
		    bool cloexec)
{
	if (connector == NULL || acceptor == NULL)
		return -EINVAL;
	int memfd = sb_circuit_create(g);
	if (memfd < 0)
		return memfd;
	int sv[2];
	/*
	 * SOCK_STREAM whatever the circuit's mode: when the last holder of one end
	 * closes it, the other end reports POLLHUP (an AF_UNIX datagram pair does not).
	 */
	long rc = sb_sys_socketpair(AF_UNIX, SOCK_STREAM | (cloexec ? SOCK_CLOEXEC : 0), 0, sv);
	if (rc < 0)
		goto close_memfd;
	rc = sb_circuit_attach(connector, memfd, sv[0], SB_ROLE_CONNECTOR);
	if (rc < 0)
		goto close_sockets;
	rc = sb_circuit_attach(acceptor, memfd, sv[1], SB_ROLE_ACCEPTOR);
	if (rc < 0) {
		sb_circuit_detach(connector);
		goto close_sockets;
	}
	sb_sys_close(memfd); /* the mappings keep the memory */
	return 0;
close_sockets:
	sb_sys_close(sv[0]);
	sb_sys_close(sv[1]);
close_memfd:
	sb_sys_close(memfd);
	return (int)rc;
}
