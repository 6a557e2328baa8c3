/*
 * Unit tests of the generated codec: every message round-trips; every kind of
 * malformed input is rejected with the right status, offset and field; the
 * encoders refuse what a peer would reject and never write past their buffer.
 * Inputs are copied into heap blocks of exactly their length, so the sanitized
 * build catches any read past the end.
 */
#include "tests.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "samples.h"

/* The encoding of the sample of `type`; aborts the test run if there is none. */
static size_t sample_bytes(enum sb_proto_type type, uint8_t *buf /* [SB_PROTO_MAX_MESSAGE_SIZE] */) {
  struct sb_proto_msg m;
  size_t len = 0;
  if (!sb_sample(type, &m) || sb_proto_encode(&m, buf, SB_PROTO_MAX_MESSAGE_SIZE, &len) != SB_PROTO_OK) {
    fprintf(stderr, "no valid sample for message type %d\n", (int)type);
    exit(1);
  }
  return len;
}

enum sb_proto_status sb_test_decode_exact(const uint8_t *bytes, size_t len, enum sb_proto_route route,
                                          struct sb_proto_msg *out, struct sb_proto_fault *fault) {
  uint8_t *copy = malloc(len ? len : 1);
  if (!copy) abort();
  if (len) memcpy(copy, bytes, len);
  enum sb_proto_status s = sb_proto_decode(copy, len, route, out, fault);
  free(copy);
  return s;
}

static bool all_zero(const void *p, size_t n) {
  const uint8_t *b = p;
  for (size_t i = 0; i < n; i++) {
    if (b[i]) return false;
  }
  return true;
}

/* Decodes and expects exactly this rejection; `field` NULL means "any field". */
static void expect_reject(const uint8_t *bytes, size_t len, enum sb_proto_route route, enum sb_proto_status status,
                          uint32_t offset, const char *field, const char *what) {
  struct sb_proto_msg out;
  struct sb_proto_fault fault;
  enum sb_proto_status s = sb_test_decode_exact(bytes, len, route, &out, &fault);
  char context[200];
  snprintf(context, sizeof context, "%s: got %s at %u (%s), want %s at %u (%s)", what, sb_proto_status_name(s),
           fault.offset, fault.field ? fault.field : "-", sb_proto_status_name(status), offset, field ? field : "-");
  CHECK(s == status, context);
  CHECK(fault.status == status, context);
  CHECK(fault.offset == offset, context);
  if (field) CHECK(fault.field && strcmp(fault.field, field) == 0, context);
  CHECK(all_zero(&out, sizeof out), context);
}

static void expect_accept(const uint8_t *bytes, size_t len, enum sb_proto_route route, const char *what) {
  struct sb_proto_msg out;
  struct sb_proto_fault fault;
  enum sb_proto_status s = sb_test_decode_exact(bytes, len, route, &out, &fault);
  char context[200];
  snprintf(context, sizeof context, "%s: got %s at %u (%s)", what, sb_proto_status_name(s), fault.offset,
           fault.field ? fault.field : "-");
  CHECK(s == SB_PROTO_OK, context);
}

static void put_u16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Every message: encode, decode, same text, re-encode to the same bytes; no other route accepts it. */
static void test_round_trips(void) {
  for (size_t i = 0; i < SB_PROTO_TYPE_COUNT; i++) {
    const struct sb_proto_type_info *info = &sb_proto_types[i];
    struct sb_proto_msg sample, decoded;
    uint8_t bytes[SB_PROTO_MAX_MESSAGE_SIZE], again[SB_PROTO_MAX_MESSAGE_SIZE];
    size_t len = 0, len2 = 0;
    if (!CHECK(sb_sample(info->type, &sample), info->name)) continue; /* add a sample to samples.c */
    CHECK(sb_proto_encode(&sample, bytes, sizeof bytes, &len) == SB_PROTO_OK, info->name);
    CHECK(len == info->size, info->name);
    CHECK(memcmp(bytes, "SBWP", 4) == 0, info->name);
    CHECK(sb_test_decode_exact(bytes, len, info->route, &decoded, NULL) == SB_PROTO_OK, info->name);
    CHECK(decoded.type == info->type && decoded.request_id == sample.request_id, info->name);

    char want[SB_PROTO_FORMAT_MAX], got[SB_PROTO_FORMAT_MAX];
    CHECK(sb_proto_format(&sample, want, sizeof want) < sizeof want, info->name);
    CHECK(sb_proto_format(&decoded, got, sizeof got) < sizeof got, info->name);
    CHECK(strcmp(want, got) == 0, info->name);

    CHECK(sb_proto_encode(&decoded, again, sizeof again, &len2) == SB_PROTO_OK, info->name);
    CHECK(len2 == len && memcmp(bytes, again, len) == 0, info->name);

    for (int route = SB_PROTO_ROUTE_SHIM_TO_OPERATOR; route <= SB_PROTO_ROUTE_PORT; route++) {
      if ((enum sb_proto_route)route == info->route) continue;
      expect_reject(bytes, len, (enum sb_proto_route)route, SB_PROTO_E_ROUTE, SB_PROTO_HEADER_TYPE_OFFSET,
                    "header.type", info->name);
    }
    CHECK(sb_proto_info_of(info->type) == info, info->name);
  }
  CHECK(sb_proto_info_of(0) == NULL, "type 0 is not a message");
  CHECK(sb_proto_info_of(0xffff) == NULL, "type 0xffff is not a message");
}

/* Short, long, and broken headers, on every message type. */
static void test_framing(void) {
  uint8_t bytes[SB_PROTO_MAX_MESSAGE_SIZE + 8];
  for (size_t i = 0; i < SB_PROTO_TYPE_COUNT; i++) {
    const struct sb_proto_type_info *info = &sb_proto_types[i];
    size_t len = sample_bytes(info->type, bytes);
    for (size_t cut = 0; cut < len; cut++) {
      if (cut < SB_PROTO_HEADER_SIZE) {
        expect_reject(bytes, cut, info->route, SB_PROTO_E_SHORT, 0, "header", "truncated header");
      } else {
        expect_reject(bytes, cut, info->route, SB_PROTO_E_LENGTH, SB_PROTO_HEADER_LENGTH_OFFSET, "header.length",
                      "truncated body");
      }
    }
    /* One byte more than the header says, then a header that agrees but the type's size does not. */
    bytes[len] = 0;
    expect_reject(bytes, len + 1, info->route, SB_PROTO_E_LENGTH, SB_PROTO_HEADER_LENGTH_OFFSET, "header.length",
                  "trailing byte");
    put_u16(bytes + SB_PROTO_HEADER_LENGTH_OFFSET, (uint16_t)(len + 1));
    expect_reject(bytes, len + 1, info->route, SB_PROTO_E_LENGTH, SB_PROTO_HEADER_LENGTH_OFFSET, "header.length",
                  "oversized for its type");
    put_u16(bytes + SB_PROTO_HEADER_LENGTH_OFFSET, (uint16_t)len);

    for (int k = 0; k < 4; k++) {
      uint8_t saved = bytes[k];
      bytes[k] ^= 0x20;
      expect_reject(bytes, len, info->route, SB_PROTO_E_MAGIC, 0, "header.magic", "wrong magic");
      bytes[k] = saved;
    }
    const uint16_t versions[] = {0, SB_PROTO_VERSION + 1, 0xffff};
    for (size_t k = 0; k < sizeof versions / sizeof versions[0]; k++) {
      put_u16(bytes + SB_PROTO_HEADER_VERSION_OFFSET, versions[k]);
      expect_reject(bytes, len, info->route, SB_PROTO_E_VERSION, SB_PROTO_HEADER_VERSION_OFFSET, "header.version",
                    "wrong version");
    }
    put_u16(bytes + SB_PROTO_HEADER_VERSION_OFFSET, SB_PROTO_VERSION);

    bytes[SB_PROTO_HEADER_FD_COUNT_OFFSET] = (uint8_t)(info->fds + 1);
    expect_reject(bytes, len, info->route, SB_PROTO_E_FDS, SB_PROTO_HEADER_FD_COUNT_OFFSET, "header.fd_count",
                  "fd count");
    bytes[SB_PROTO_HEADER_FD_COUNT_OFFSET] = info->fds;
    bytes[SB_PROTO_HEADER_RESERVED_OFFSET] = 1;
    expect_reject(bytes, len, info->route, SB_PROTO_E_RESERVED, SB_PROTO_HEADER_RESERVED_OFFSET, "header.reserved",
                  "reserved byte");
    bytes[SB_PROTO_HEADER_RESERVED_OFFSET] = 0;

    /* Requests need an id, notices must not have one; replies echo whatever they answer. */
    uint32_t ids[] = {0, 1, 0xffffffffu};
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
      put_u32(bytes + SB_PROTO_HEADER_REQUEST_ID_OFFSET, ids[k]);
      bool ok = info->kind == SB_PROTO_KIND_REPLY || (info->kind == SB_PROTO_KIND_REQUEST) == (ids[k] != 0);
      if (ok) {
        expect_accept(bytes, len, info->route, "request id");
      } else {
        expect_reject(bytes, len, info->route, SB_PROTO_E_REQUEST_ID, SB_PROTO_HEADER_REQUEST_ID_OFFSET,
                      "header.request_id", "request id");
      }
    }
  }

  /* Unknown types, and a datagram longer than any message. */
  size_t len = sample_bytes(SB_PROTO_MSG_OK, bytes);
  const uint16_t unknown[] = {0, 3, 0xffff};
  for (size_t k = 0; k < sizeof unknown / sizeof unknown[0]; k++) {
    put_u16(bytes + SB_PROTO_HEADER_TYPE_OFFSET, unknown[k]);
    expect_reject(bytes, len, SB_PROTO_ROUTE_OPERATOR_TO_SHIM, SB_PROTO_E_TYPE, SB_PROTO_HEADER_TYPE_OFFSET, "header.type",
                  "unknown type");
  }
  memset(bytes, 0, sizeof bytes);
  expect_reject(bytes, SB_PROTO_MAX_MESSAGE_SIZE + 1, SB_PROTO_ROUTE_OPERATOR_TO_SHIM, SB_PROTO_E_TOO_BIG, 0, "header",
                "too big");
  expect_reject(bytes, SB_PROTO_MAX_MESSAGE_SIZE, SB_PROTO_ROUTE_OPERATOR_TO_SHIM, SB_PROTO_E_MAGIC, 0, "header.magic",
                "largest size is not rejected for its size");
}

/* Writes a string slot (length + bytes, zero padding) into an encoded hello's program field. */
static void put_program(uint8_t *bytes, uint16_t length, const char *text, size_t n) {
  const size_t max = sizeof ((struct sb_proto_hello *)0)->program - 1;
  uint8_t *slot = bytes + SB_PROTO_HELLO_PROGRAM_OFFSET;
  memset(slot, 0, 2 + max);
  put_u16(slot, length);
  memcpy(slot + 2, text, n);
}

static void test_strings(void) {
  uint8_t bytes[SB_PROTO_MAX_MESSAGE_SIZE];
  size_t len = sample_bytes(SB_PROTO_MSG_HELLO, bytes);
  const enum sb_proto_route route = SB_PROTO_ROUTE_SHIM_TO_OPERATOR;
  const uint32_t at = SB_PROTO_HELLO_PROGRAM_OFFSET;
  const size_t max = sizeof ((struct sb_proto_hello *)0)->program - 1;

  static const struct {
    const char *bytes;
    size_t n;
    const char *what;
  } bad[] = {
      {"\xc0\x80", 2, "overlong NUL"},
      {"\xc1\xbf", 2, "overlong 2-byte"},
      {"\xe0\x80\xaf", 3, "overlong 3-byte"},
      {"\xf0\x8f\xbf\xbf", 4, "overlong 4-byte"},
      {"\xed\xa0\x80", 3, "UTF-16 surrogate"},
      {"\xf4\x90\x80\x80", 4, "above U+10FFFF"},
      {"\xf5\x80\x80\x80", 4, "invalid lead byte"},
      {"\x80", 1, "lone continuation"},
      {"a\xe2\x82", 3, "truncated sequence"},
      {"\xe2\x28\xa1", 3, "bad continuation"},
      {"a\0b", 3, "embedded NUL"},
      {"\xff", 1, "0xff"},
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    put_program(bytes, (uint16_t)bad[k].n, bad[k].bytes, bad[k].n);
    expect_reject(bytes, len, route, SB_PROTO_E_STRING, at, "hello.program", bad[k].what);
  }
  static const struct {
    const char *bytes;
    const char *what;
  } good[] = {
      {"", "empty"},
      {"\xc2\x80", "U+0080"},
      {"\xed\x9f\xbf", "U+D7FF"},
      {"\xee\x80\x80", "U+E000"},
      {"\xef\xbb\xbf", "BOM"},
      {"\xf4\x8f\xbf\xbf", "U+10FFFF"},
      {"\x7f\x01", "control characters"},
  };
  for (size_t k = 0; k < sizeof good / sizeof good[0]; k++) {
    put_program(bytes, (uint16_t)strlen(good[k].bytes), good[k].bytes, strlen(good[k].bytes));
    expect_accept(bytes, len, route, good[k].what);
  }

  char full[128];
  memset(full, 'x', sizeof full);
  put_program(bytes, (uint16_t)max, full, max);
  expect_accept(bytes, len, route, "max length");
  put_program(bytes, (uint16_t)(max + 1), full, max);
  expect_reject(bytes, len, route, SB_PROTO_E_STRING, at, "hello.program", "length over max");
  put_program(bytes, 0xffff, full, max);
  expect_reject(bytes, len, route, SB_PROTO_E_STRING, at, "hello.program", "length 65535");
  put_program(bytes, 2, "ab", 2);
  bytes[at + 2 + 5] = 'z';
  expect_reject(bytes, len, route, SB_PROTO_E_STRING, at, "hello.program", "non-zero padding");
  put_program(bytes, 2, "ab", 2);
  bytes[at + 2 + max - 1] = 1;
  expect_reject(bytes, len, route, SB_PROTO_E_STRING, at, "hello.program", "non-zero last padding byte");
}

static void test_fields(void) {
  uint8_t bytes[SB_PROTO_MAX_MESSAGE_SIZE];
  size_t len;

  /* enums */
  len = sample_bytes(SB_PROTO_MSG_BIND, bytes);
  const uint8_t bad_types[] = {0, 3, 0xff};
  for (size_t k = 0; k < sizeof bad_types; k++) {
    bytes[SB_PROTO_BIND_SOCKET_TYPE_OFFSET] = bad_types[k];
    expect_reject(bytes, len, SB_PROTO_ROUTE_SHIM_TO_OPERATOR, SB_PROTO_E_ENUM, SB_PROTO_BIND_SOCKET_TYPE_OFFSET,
                  "bind.socket_type", "undeclared enum value");
  }
  bytes[SB_PROTO_BIND_SOCKET_TYPE_OFFSET] = SB_PROTO_SOCKET_TYPE_STREAM;
  /* flags */
  bytes[SB_PROTO_BIND_OPTIONS_OFFSET] = 0x08;
  expect_reject(bytes, len, SB_PROTO_ROUTE_SHIM_TO_OPERATOR, SB_PROTO_E_FLAGS, SB_PROTO_BIND_OPTIONS_OFFSET,
                "bind.options", "undeclared flag");
  bytes[SB_PROTO_BIND_OPTIONS_OFFSET] = SB_PROTO_BIND_OPTIONS_ALL;
  expect_accept(bytes, len, SB_PROTO_ROUTE_SHIM_TO_OPERATOR, "every declared flag");

  len = sample_bytes(SB_PROTO_MSG_HELLO, bytes);
  put_u32(bytes + SB_PROTO_HELLO_CAPABILITIES_OFFSET, 0x80000000u);
  expect_reject(bytes, len, SB_PROTO_ROUTE_SHIM_TO_OPERATOR, SB_PROTO_E_FLAGS, SB_PROTO_HELLO_CAPABILITIES_OFFSET,
                "hello.capabilities", "bit 31");

  /* bools */
  len = sample_bytes(SB_PROTO_MSG_CONNECT_GRANTED, bytes);
  const uint8_t bad_bools[] = {2, 0x80, 0xff};
  for (size_t k = 0; k < sizeof bad_bools; k++) {
    bytes[SB_PROTO_CONNECT_GRANTED_IN_PROGRESS_OFFSET] = bad_bools[k];
    expect_reject(bytes, len, SB_PROTO_ROUTE_OPERATOR_TO_SHIM, SB_PROTO_E_BOOL,
                  SB_PROTO_CONNECT_GRANTED_IN_PROGRESS_OFFSET, "connect_granted.in_progress", "bool");
  }

  /* errnos */
  len = sample_bytes(SB_PROTO_MSG_ERROR, bytes);
  const uint32_t bad_errnos[] = {0, 4096, 0xffffffffu /* -1 */, 0x80000000u};
  for (size_t k = 0; k < sizeof bad_errnos / sizeof bad_errnos[0]; k++) {
    put_u32(bytes + SB_PROTO_ERROR_ERRNUM_OFFSET, bad_errnos[k]);
    expect_reject(bytes, len, SB_PROTO_ROUTE_OPERATOR_TO_SHIM, SB_PROTO_E_ERRNO, SB_PROTO_ERROR_ERRNUM_OFFSET,
                  "error.errnum", "errno range");
  }
  put_u32(bytes + SB_PROTO_ERROR_ERRNUM_OFFSET, 1);
  expect_accept(bytes, len, SB_PROTO_ROUTE_OPERATOR_TO_SHIM, "errno 1");

  /* addresses: family, then bytes the family does not use */
  len = sample_bytes(SB_PROTO_MSG_CONNECT, bytes);
  const uint32_t src = SB_PROTO_CONNECT_SOURCE_OFFSET, dst = SB_PROTO_CONNECT_DESTINATION_OFFSET;
  const enum sb_proto_route route = SB_PROTO_ROUTE_SHIM_TO_OPERATOR;
  const uint16_t bad_families[] = {1, 3, 11, 0xffff};
  for (size_t k = 0; k < sizeof bad_families / sizeof bad_families[0]; k++) {
    uint8_t copy[SB_PROTO_MAX_MESSAGE_SIZE];
    memcpy(copy, bytes, len);
    put_u16(copy + dst, bad_families[k]);
    expect_reject(copy, len, route, SB_PROTO_E_ADDRESS, dst, "connect.destination", "unknown family");
  }
  for (uint32_t k = 2; k < SB_PROTO_ADDR_SIZE; k++) { /* AF_UNSPEC source: every other byte must be zero */
    uint8_t copy[SB_PROTO_MAX_MESSAGE_SIZE];
    memcpy(copy, bytes, len);
    copy[src + k] = 1;
    expect_reject(copy, len, route, SB_PROTO_E_ADDRESS, src, "connect.source", "AF_UNSPEC with data");
  }
  for (uint32_t k = 2; k < SB_PROTO_ADDR_SIZE; k++) { /* AF_INET: port and addr[0..3] only */
    uint8_t copy[SB_PROTO_MAX_MESSAGE_SIZE];
    memcpy(copy, bytes, len);
    copy[dst + k] ^= 0x5a;
    bool used = k < 4 || (k >= 12 && k < 16);
    if (used) {
      expect_accept(copy, len, route, "AF_INET port or address byte");
    } else {
      expect_reject(copy, len, route, SB_PROTO_E_ADDRESS, dst, "connect.destination", "AF_INET with data outside");
    }
  }
  { /* AF_INET6 uses every byte */
    struct sb_proto_msg m;
    sb_sample(SB_PROTO_MSG_CONNECT, &m);
    m.as.connect.destination = sb_sample_inet6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0xffff, 0xffffffffu, 0xffffffffu);
    uint8_t six[SB_PROTO_MAX_MESSAGE_SIZE];
    size_t n = 0;
    CHECK(sb_proto_encode(&m, six, sizeof six, &n) == SB_PROTO_OK, "AF_INET6 with every bit set");
    expect_accept(six, n, route, "AF_INET6 with every bit set");
  }
}

/* Encoders: bounds, refusals, and nothing half-written. */
static void test_encoders(void) {
  for (size_t i = 0; i < SB_PROTO_TYPE_COUNT; i++) {
    const struct sb_proto_type_info *info = &sb_proto_types[i];
    struct sb_proto_msg m;
    uint8_t buf[SB_PROTO_MAX_MESSAGE_SIZE + 16];
    size_t len = 123;
    sb_sample(info->type, &m);
    memset(buf, 0xaa, sizeof buf);
    CHECK(sb_proto_encode(&m, buf, info->size - 1u, &len) == SB_PROTO_E_NO_SPACE, info->name);
    CHECK(len == 0, info->name);
    bool untouched = true;
    for (size_t k = 0; k < sizeof buf; k++) untouched = untouched && buf[k] == 0xaa;
    CHECK(untouched, info->name);
    CHECK(sb_proto_encode(&m, buf, info->size, &len) == SB_PROTO_OK && len == info->size, info->name);
    bool tail = true;
    for (size_t k = info->size; k < sizeof buf; k++) tail = tail && buf[k] == 0xaa;
    CHECK(tail, info->name);
    CHECK(sb_proto_encode(&m, buf, info->size, NULL) == SB_PROTO_OK, "len may be NULL");
  }

  struct sb_proto_msg m;
  uint8_t buf[SB_PROTO_MAX_MESSAGE_SIZE];
  size_t len = 0;
#define REFUSED(status, what)                                                                                          \
  do {                                                                                                                 \
    memset(buf, 0xaa, sizeof buf);                                                                                     \
    const struct sb_proto_type_info *info_ = sb_proto_info_of((uint32_t)m.type);                                     \
    CHECK(sb_proto_encode(&m, buf, sizeof buf, &len) == (status) && len == 0, what);                                   \
    CHECK(info_ && all_zero(buf, info_->size), what " leaves zeroes, not half a message");                            \
  } while (0)

  sb_sample(SB_PROTO_MSG_HELLO, &m);
  memset(m.as.hello.program, 'a', sizeof m.as.hello.program); /* no NUL within the array */
  REFUSED(SB_PROTO_E_STRING, "unterminated string");
  sb_sample(SB_PROTO_MSG_HELLO, &m);
  strcpy(m.as.hello.program, "bad \xff utf-8");
  REFUSED(SB_PROTO_E_STRING, "string not UTF-8");
  sb_sample(SB_PROTO_MSG_HELLO, &m);
  m.as.hello.capabilities |= 0x100;
  REFUSED(SB_PROTO_E_FLAGS, "undeclared flag");
  sb_sample(SB_PROTO_MSG_HELLO, &m);
  m.request_id = 0;
  REFUSED(SB_PROTO_E_REQUEST_ID, "request without id");
  sb_sample(SB_PROTO_MSG_BIND, &m);
  m.as.bind.socket_type = 9;
  REFUSED(SB_PROTO_E_ENUM, "undeclared enum value");
  sb_sample(SB_PROTO_MSG_BIND, &m);
  m.as.bind.address.family = 1;
  REFUSED(SB_PROTO_E_ADDRESS, "unknown family");
  sb_sample(SB_PROTO_MSG_BIND, &m);
  m.as.bind.address = sb_sample_inet("1.2.3.4", 1);
  m.as.bind.address.scope_id = 1;
  REFUSED(SB_PROTO_E_ADDRESS, "AF_INET with a scope id");
  sb_sample(SB_PROTO_MSG_ERROR, &m);
  m.as.error.errnum = 0;
  REFUSED(SB_PROTO_E_ERRNO, "errno 0");
  sb_sample(SB_PROTO_MSG_CLOSED, &m);
  m.request_id = 1;
  REFUSED(SB_PROTO_E_REQUEST_ID, "notice with an id");
#undef REFUSED

  memset(&m, 0, sizeof m);
  m.type = (enum sb_proto_type)999;
  CHECK(sb_proto_encode(&m, buf, sizeof buf, &len) == SB_PROTO_E_TYPE && len == 0, "unknown type");

  /* The per-message entry points are the same encoder. */
  struct sb_proto_release release = {.reservation = 42};
  CHECK(sb_proto_encode_release(9, &release, buf, sizeof buf, &len) == SB_PROTO_OK && len == SB_PROTO_RELEASE_SIZE,
        "sb_proto_encode_release");
  CHECK(sb_proto_encode_ok(9, buf, sizeof buf, &len) == SB_PROTO_OK && len == SB_PROTO_OK_SIZE, "sb_proto_encode_ok");
}

/* format: the text of a worst-case message fits SB_PROTO_FORMAT_MAX; truncation is bounded and terminated. */
static void test_format(void) {
  struct sb_proto_msg m;
  sb_sample(SB_PROTO_MSG_HELLO_REPLY, &m);
  memset(m.as.hello_reply.operator_version, 0x01, sizeof m.as.hello_reply.operator_version - 1); /* \x01 each */
  memset(m.as.hello_reply.tenant, '"', sizeof m.as.hello_reply.tenant - 1);
  char text[SB_PROTO_FORMAT_MAX + 8];
  size_t n = sb_proto_format(&m, text, sizeof text);
  CHECK(n < SB_PROTO_FORMAT_MAX && strlen(text) == n, "escaped worst case fits SB_PROTO_FORMAT_MAX");

  sb_sample(SB_PROTO_MSG_CONNECT_GRANTED, &m);
  char whole[SB_PROTO_FORMAT_MAX];
  size_t need = sb_proto_format(&m, whole, sizeof whole);
  CHECK(strcmp(whole,
               "connect_granted #6 circuit=72623859790382856 geometry.layout=1 geometry.memfd_bytes=2101248 "
               "geometry.ring_a_offset=4096 geometry.ring_a_bytes=1048576 geometry.ring_b_offset=1052672 "
               "geometry.ring_b_bytes=1048576 local=inet:127.0.0.1:51000 peer=inet:10.1.2.3:443 in_progress=true") == 0,
        whole);
  for (size_t cap = 0; cap < 24; cap++) {
    char small[32];
    memset(small, 'Z', sizeof small);
    CHECK(sb_proto_format(&m, small, cap) == need, "returns the length it needs");
    if (cap > 0) CHECK(strlen(small) == cap - 1 && strncmp(small, whole, cap - 1) == 0, "truncated prefix");
    bool beyond = true;
    for (size_t k = cap; k < sizeof small; k++) beyond = beyond && small[k] == 'Z';
    CHECK(beyond, "nothing written past cap");
  }
}

void sb_test_unit(void) {
  test_round_trips();
  test_framing();
  test_strings();
  test_fields();
  test_encoders();
  test_format();
}
