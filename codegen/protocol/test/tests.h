/* The test groups main.c runs. */
#ifndef SB_PROTO_TEST_TESTS_H
#define SB_PROTO_TEST_TESTS_H

#include <stddef.h>
#include <stdint.h>

#include "sb_protocol.h"

/* Round trips, rejections, encoder refusals (unit.c). */
void sb_test_unit(void);

/* `rounds` random and mutated buffers into the decoder (fuzz.c). */
void sb_test_fuzz(unsigned long rounds, uint64_t seed);

/* The TypeScript codec's vectors: the same verdict, text and bytes in C (golden.c). */
void sb_test_golden(const char *path);

/* sb_proto_decode on a heap copy of exactly `len` bytes, so sanitizers see any over-read. */
enum sb_proto_status sb_test_decode_exact(const uint8_t *bytes, size_t len, enum sb_proto_route route,
                                          struct sb_proto_msg *out, struct sb_proto_fault *fault);

#endif
