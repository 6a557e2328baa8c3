/*
 * Robustness: random and mutated buffers into the decoder.  Whatever comes
 * in, the decoder must not crash or touch memory outside the buffer (the
 * sanitized build checks that), must report a fault inside the buffer, and
 * may accept only canonical encodings: re-encoding an accepted message
 * reproduces the input byte for byte.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "samples.h"
#include "tests.h"

static uint64_t rng;

/* xorshift64*: deterministic for a seed, so a failure can be replayed with --seed. */
static uint64_t next(void) {
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return rng * UINT64_C(2685821657736338717);
}

static uint32_t below(uint32_t n) { return (uint32_t)(next() % n); }
static uint8_t byte(void) { return (uint8_t)next(); }

static void put_u16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

struct corpus {
  uint8_t bytes[SB_PROTO_TYPE_COUNT][SB_PROTO_MAX_MESSAGE_SIZE];
  size_t len[SB_PROTO_TYPE_COUNT];
};

static void flip_some(uint8_t *buf, size_t len) {
  for (uint32_t flips = 1 + below(4); flips > 0 && len > 0; flips--) {
    size_t at = below((uint32_t)len);
    if (below(2)) {
      buf[at] = byte();
    } else {
      buf[at] = (uint8_t)(buf[at] ^ (1u << below(8)));
    }
  }
}

/* Builds one hostile buffer; returns its length and the route it is "read from". */
static size_t make_input(const struct corpus *c, uint8_t *buf /* [MAX + 16] */, enum sb_proto_route *route) {
  uint32_t pick = below(SB_PROTO_TYPE_COUNT);
  const struct sb_proto_type_info *info = &sb_proto_types[pick];
  size_t len = c->len[pick];
  *route = below(4) ? info->route : (enum sb_proto_route)(1 + below(3));
  switch (below(4)) {
  case 0: /* a valid message with a few bytes changed */
    memcpy(buf, c->bytes[pick], len);
    flip_some(buf, len);
    return len;
  case 1: /* a valid header over a zero or random body, then a few changes */
    memcpy(buf, c->bytes[pick], SB_PROTO_HEADER_SIZE);
    for (size_t i = SB_PROTO_HEADER_SIZE; i < len; i++) buf[i] = below(2) ? 0 : byte();
    if (below(2)) flip_some(buf + SB_PROTO_HEADER_SIZE, len - SB_PROTO_HEADER_SIZE);
    return len;
  case 2: { /* random bytes of a random length, sometimes with the right magic and version */
    size_t n = below(SB_PROTO_MAX_MESSAGE_SIZE + 16);
    for (size_t i = 0; i < n; i++) buf[i] = byte();
    if (n >= 6 && below(2)) {
      memcpy(buf, "SBWP", 4);
      put_u16(buf + 4, SB_PROTO_VERSION);
    }
    return n;
  }
  default: { /* a valid message cut short or extended, with its header's length sometimes agreeing */
    size_t n = below((uint32_t)len + 16);
    memcpy(buf, c->bytes[pick], len);
    for (size_t i = len; i < n; i++) buf[i] = byte();
    if (below(2) && n >= SB_PROTO_HEADER_SIZE) put_u16(buf + SB_PROTO_HEADER_LENGTH_OFFSET, (uint32_t)n);
    return n;
  }
  }
}

void sb_test_fuzz(unsigned long rounds, uint64_t seed) {
  static struct corpus c;
  for (size_t i = 0; i < SB_PROTO_TYPE_COUNT; i++) {
    struct sb_proto_msg m;
    sb_sample(sb_proto_types[i].type, &m);
    if (!CHECK(sb_proto_encode(&m, c.bytes[i], sizeof c.bytes[i], &c.len[i]) == SB_PROTO_OK, "fuzz corpus")) return;
  }
  rng = seed ? seed : 1;
  unsigned long accepted = 0, by_status[SB_PROTO_E_NO_SPACE + 1] = {0};
  for (unsigned long r = 0; r < rounds; r++) {
    uint8_t buf[SB_PROTO_MAX_MESSAGE_SIZE + 16];
    enum sb_proto_route route;
    size_t len = make_input(&c, buf, &route);
    struct sb_proto_msg out;
    struct sb_proto_fault fault;
    enum sb_proto_status s = sb_test_decode_exact(buf, len, route, &out, &fault);
    if (s == SB_PROTO_OK) {
      accepted++;
      uint8_t again[SB_PROTO_MAX_MESSAGE_SIZE];
      size_t n = 0;
      CHECK(sb_proto_encode(&out, again, sizeof again, &n) == SB_PROTO_OK, "accepted message re-encodes");
      CHECK(n == len && memcmp(again, buf, len) == 0, "only canonical encodings are accepted");
      char text[SB_PROTO_FORMAT_MAX];
      CHECK(sb_proto_format(&out, text, sizeof text) < sizeof text, "format fits SB_PROTO_FORMAT_MAX");
    } else {
      CHECK(s > SB_PROTO_OK && s < SB_PROTO_E_NO_SPACE, "decode status is a decode error");
      CHECK(fault.status == s && fault.field != NULL, "fault is filled in");
      CHECK(fault.offset == 0 || fault.offset < len, "fault points inside the buffer");
      if (s > SB_PROTO_OK && s <= SB_PROTO_E_NO_SPACE) by_status[s]++;
      static const struct sb_proto_msg zero;
      CHECK(memcmp(&out, &zero, sizeof out) == 0, "rejected message leaves *out zeroed");
    }
  }
  printf("fuzz: %lu rounds (seed %llu): %lu accepted", rounds, (unsigned long long)seed, accepted);
  for (int s = 1; s < SB_PROTO_E_NO_SPACE; s++) {
    if (by_status[s]) printf(", %lu %s", by_status[s], sb_proto_status_name((enum sb_proto_status)s));
  }
  printf("\n");
  /* A fuzzer that never gets past the header proves nothing about the fields. */
  CHECK(accepted > rounds / 50, "a fair share of inputs reach a full decode");
  for (int s = SB_PROTO_E_SHORT; s < SB_PROTO_E_NO_SPACE; s++) {
    CHECK(by_status[s] > 0 || rounds < 100000, sb_proto_status_name((enum sb_proto_status)s));
  }
}
