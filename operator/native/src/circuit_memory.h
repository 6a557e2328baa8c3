/*
 * The operator's view of circuit memory, in plain C types so the C++ binding
 * need not include layout.h (which uses C11 _Atomic).  The operator creates a
 * circuit through the circuit library and afterwards only reads two things
 * from it, with pread(): the header (to describe the geometry to both ends)
 * and the ring counters (bytes each way, for `switchboard circuits`).  It
 * never maps the memory: nothing in it is trusted, and nothing in the
 * operator depends on it.
 */
#ifndef SB_NATIVE_CIRCUIT_MEMORY_H
#define SB_NATIVE_CIRCUIT_MEMORY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sb_native_geometry {
	uint32_t layout;          /* SB_CIRCUIT_VERSION of the header */
	uint32_t mode;            /* SB_CIRCUIT_STREAM or SB_CIRCUIT_DGRAM */
	uint64_t memfd_bytes;
	uint64_t ring_offset[2];  /* A, B */
	uint64_t ring_size[2];
};

/* A sealed circuit memfd (O_CLOEXEC) and its geometry; the fd or -errno.
 * ring sizes of 0 take the circuit library's default. */
int sb_native_circuit_create(uint32_t mode, uint64_t ring_a, uint64_t ring_b, struct sb_native_geometry *out);

/* The free-running counters: ring A prod, A cons, B prod, B cons (bytes),
 * then A and B datagrams published, then A and B datagrams dropped because the
 * ring was full (datagram circuits).  Written by the tenants, so only good for
 * statistics.  0 or -errno. */
#define SB_NATIVE_RING_COUNTERS 8
int sb_native_ring_counters(int memfd, uint64_t out[SB_NATIVE_RING_COUNTERS]);

#ifdef __cplusplus
}
#endif

#endif
