/*
 * The shared memory of one circuit, exactly as both endpoints map it.
 *
 *   page 0   struct sb_circuit_shared: the header (written once by the
 *            creator, validated and copied by each endpoint at attach, never
 *            read again) and the control blocks of the two rings
 *   ring A   connector → acceptor   (header.ring_offset[SB_RING_A], page aligned)
 *   ring B   acceptor → connector
 *
 * The memfd is sealed (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) before it is
 * handed out, so neither side can make the other fault by resizing it.
 * Everything else in here is writable by the peer and therefore untrusted:
 * every index, flag and length read from it is validated before use.
 *
 * Rings carry bytes (stream mode) or records (datagram mode: a
 * struct sb_dgram_hdr then the payload, padded to SB_DGRAM_ALIGN; a record
 * may wrap around the end of the ring).  Indices are free-running 64-bit
 * byte counters; position = index & (size - 1).
 */
#ifndef SB_CIRCUIT_LAYOUT_H
#define SB_CIRCUIT_LAYOUT_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>

#define SB_CIRCUIT_MAGIC 0x49434253u /* "SBCI" little-endian */
#define SB_CIRCUIT_VERSION 2u
#define SB_CACHELINE 64
#define SB_CIRCUIT_PAGE 4096u

/* Ring sizes: powers of two between these bounds. */
#define SB_RING_MIN_SIZE 4096u
#define SB_RING_MAX_SIZE (1u << 30)

enum sb_circuit_mode {
	SB_CIRCUIT_STREAM = 1,
	SB_CIRCUIT_DGRAM = 2,
};

/* Which ring: A carries connector → acceptor, B acceptor → connector. */
enum sb_ring_id {
	SB_RING_A = 0,
	SB_RING_B = 1,
};

struct sb_circuit_header {
	uint32_t magic;
	uint32_t version;
	uint32_t mode;        /* enum sb_circuit_mode */
	uint32_t reserved;
	uint64_t total_size;  /* bytes of the memfd */
	uint64_t ring_offset[2];
	uint64_t ring_size[2];
};

/* prod_state bits, written by the producer only. */
#define SB_PROD_FIN 0x1u   /* no more bytes will come (shutdown(SHUT_WR), close) */
#define SB_PROD_RESET 0x2u /* abortive close: the connection is reset */
/* cons_state bits, written by the consumer only. */
#define SB_CONS_CLOSED 0x1u /* the consumer closed: bytes sent from now on are lost (EPIPE) */
#define SB_CONS_RESET 0x2u  /* abortive close, or the consumer found the ring corrupt */

/*
 * One direction.  Each cache line has a single writer, so the two sides
 * never bounce a line they both write:
 *   line 0  prod            producer: bytes published (release)
 *           prod_records    producer: datagrams published (statistics for
 *                           the operator; no side depends on it)
 *           prod_dropped    producer: datagrams it dropped because the ring
 *                           was full (UDP's receive-buffer drops; statistics)
 *   line 1  prod_state,     producer: FIN / RESET
 *           prod_waiting    producer: "I am about to sleep until there is room"
 *   line 2  cons            consumer: bytes consumed (release)
 *   line 3  cons_state,     consumer: CLOSED / RESET
 *           cons_waiting    consumer: "I am about to sleep until there is data"
 */
struct sb_ring_ctl {
	alignas(SB_CACHELINE) _Atomic uint64_t prod;
	_Atomic uint64_t prod_records;
	_Atomic uint64_t prod_dropped;
	alignas(SB_CACHELINE) _Atomic uint32_t prod_state;
	_Atomic uint32_t prod_waiting;
	alignas(SB_CACHELINE) _Atomic uint64_t cons;
	alignas(SB_CACHELINE) _Atomic uint32_t cons_state;
	_Atomic uint32_t cons_waiting;
};

struct sb_circuit_shared {
	struct sb_circuit_header header;
	alignas(SB_CACHELINE) struct sb_ring_ctl ring[2];
};

_Static_assert(sizeof(struct sb_circuit_shared) <= SB_CIRCUIT_PAGE, "header and control fit in page 0");

/* Datagram mode: the record header before each datagram. */
#define SB_DGRAM_ALIGN 8u
#define SB_DGRAM_ADDR_MAX 28u /* sizeof(struct sockaddr_in6) */

struct sb_dgram_hdr {
	uint32_t len;      /* payload bytes */
	uint16_t flags;    /* reserved, 0 */
	uint16_t addr_len; /* bytes of addr used, <= SB_DGRAM_ADDR_MAX */
	uint8_t addr[SB_DGRAM_ADDR_MAX]; /* the sender's address, as a sockaddr */
	uint32_t reserved;
	/* When it was sent (CLOCK_MONOTONIC ns, the sender's claim): a socket
	 * with several circuits delivers their datagrams in this order, as the
	 * kernel's one receive queue would.  Untrusted: the receiver clamps it
	 * (udp/flows.c) so that a lying peer cannot jump the queue for long. */
	uint64_t stamp;
};

_Static_assert(sizeof(struct sb_dgram_hdr) % SB_DGRAM_ALIGN == 0, "records stay aligned");

#endif
