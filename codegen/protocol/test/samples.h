/* One hand-written, valid message per type, with values that exercise the layout. */
#ifndef SB_PROTO_TEST_SAMPLES_H
#define SB_PROTO_TEST_SAMPLES_H

#include <stdbool.h>

#include "sb_protocol.h"

/* Fills *out with the sample of `type`; false when there is none (a new message needs one here). */
bool sb_sample(enum sb_proto_type type, struct sb_proto_msg *out);

/* Helpers for tests that build their own messages. */
struct sb_proto_addr sb_sample_inet(const char *dotted, uint16_t port);
struct sb_proto_addr sb_sample_inet6(const char *text, uint16_t port, uint32_t flowinfo, uint32_t scope_id);

#endif
