/*
 * The process's circuit endpoints, by file descriptor.
 *
 * Lookups are lock-free (an array of atomic pointers indexed by fd, grown
 * under a lock and never shrunk or freed while the process lives, so a
 * concurrent reader never touches freed memory).  Until the shim carries TCP
 * over circuits, entries come only from sb_circuit_socketpair(), which tests
 * and benchmarks use to make circuits without the operator; close() of such an
 * fd closes its circuit (FIN, or reset with unread data).
 */
#ifndef SB_CIRCUIT_FDTAB_H
#define SB_CIRCUIT_FDTAB_H

#include "circuit.h"

/* The circuit behind fd, or NULL. */
struct sb_circuit *sb_fdtab_get(int fd);

/* Registers c (heap-allocated, ownership passes to the table) for fd; -errno on failure. */
int sb_fdtab_put(int fd, struct sb_circuit *c);

/* Unregisters fd and returns its circuit (the caller now owns it), or NULL. */
struct sb_circuit *sb_fdtab_take(int fd);

/* socketpair() for circuits: creates a circuit of `type` (SOCK_STREAM or
 * SOCK_DGRAM, optionally | SOCK_NONBLOCK | SOCK_CLOEXEC) and registers both
 * endpoints; sv[0] is the connector, sv[1] the acceptor.  0, or -errno. */
int sb_circuit_socketpair(int type, int sv[2]);

#endif
