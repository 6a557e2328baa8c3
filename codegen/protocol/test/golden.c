/*
 * Cross-language check.  write-vectors.ts encodes messages with the generated
 * TypeScript codec (and mutates some of them), decodes each with it, and
 * writes one line per vector:
 *
 *   <route> <hex bytes> ok <format() text>
 *   <route> <hex bytes> reject <status> <offset> <field>
 *
 * Here the C codec must reach the same verdict: the same text for accepted
 * messages (so both sides agree on every field's value, not just on bytes),
 * the same bytes when it re-encodes them, and the same status, offset and
 * field for rejected ones.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tests.h"

static int route_of(const char *name, enum sb_proto_route *route) {
  if (strcmp(name, "shim-to-operator") == 0) *route = SB_PROTO_ROUTE_SHIM_TO_OPERATOR;
  else if (strcmp(name, "operator-to-shim") == 0) *route = SB_PROTO_ROUTE_OPERATOR_TO_SHIM;
  else if (strcmp(name, "port") == 0) *route = SB_PROTO_ROUTE_PORT;
  else return 0;
  return 1;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Decodes lowercase hex into a new heap block; NULL if it is not hex. */
static uint8_t *from_hex(const char *hex, size_t *len) {
  size_t n = strlen(hex);
  if (n % 2) return NULL;
  uint8_t *out = malloc(n / 2 + 1);
  if (!out) abort();
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(out);
      return NULL;
    }
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  *len = n / 2;
  return out;
}

static void check_vector(unsigned line_no, enum sb_proto_route route, const uint8_t *bytes, size_t len, char *verdict,
                         unsigned *accepted, unsigned *rejected) {
  struct sb_proto_msg msg;
  struct sb_proto_fault fault;
  enum sb_proto_status s = sb_test_decode_exact(bytes, len, route, &msg, &fault);
  char context[1200];
  if (strncmp(verdict, "ok ", 3) == 0) {
    const char *want = verdict + 3;
    char text[SB_PROTO_FORMAT_MAX];
    snprintf(context, sizeof context, "line %u: C says %s at %u (%s)", line_no, sb_proto_status_name(s), fault.offset,
             fault.field ? fault.field : "-");
    if (!CHECK(s == SB_PROTO_OK, context)) return;
    sb_proto_format(&msg, text, sizeof text);
    snprintf(context, sizeof context, "line %u:\n  C:  %s\n  TS: %s", line_no, text, want);
    CHECK(strcmp(text, want) == 0, context);
    uint8_t again[SB_PROTO_MAX_MESSAGE_SIZE];
    size_t n = 0;
    snprintf(context, sizeof context, "line %u: C re-encodes the TypeScript bytes identically", line_no);
    CHECK(sb_proto_encode(&msg, again, sizeof again, &n) == SB_PROTO_OK && n == len && memcmp(again, bytes, len) == 0,
          context);
    ++*accepted;
    return;
  }
  char status[32], field[128];
  unsigned offset;
  if (sscanf(verdict, "reject %31s %u %127s", status, &offset, field) != 3) {
    snprintf(context, sizeof context, "line %u: unreadable verdict '%s'", line_no, verdict);
    CHECK(0, context);
    return;
  }
  snprintf(context, sizeof context, "line %u: TS rejects (%s at %u, %s), C says %s at %u (%s)", line_no, status, offset,
           field, sb_proto_status_name(s), fault.offset, fault.field ? fault.field : "-");
  CHECK(strcmp(sb_proto_status_name(s), status) == 0 && fault.offset == offset && fault.field &&
            strcmp(fault.field, field) == 0,
        context);
  ++*rejected;
}

void sb_test_golden(const char *path) {
  FILE *f = fopen(path, "r");
  if (!CHECK(f != NULL, path)) return;
  char *line = NULL;
  size_t cap = 0;
  ssize_t got;
  unsigned line_no = 0, accepted = 0, rejected = 0;
  while ((got = getline(&line, &cap, f)) > 0) {
    line_no++;
    if (line[got - 1] == '\n') line[got - 1] = '\0';
    if (line[0] == '#' || line[0] == '\0') continue;
    char *route_name = line, *hex = strchr(line, ' ');
    char *verdict = hex ? strchr(hex + 1, ' ') : NULL;
    enum sb_proto_route route = SB_PROTO_ROUTE_SHIM_TO_OPERATOR;
    size_t len = 0;
    uint8_t *bytes = NULL;
    if (hex && verdict) {
      *hex++ = '\0';
      *verdict++ = '\0';
      bytes = route_of(route_name, &route) ? from_hex(hex, &len) : NULL;
    }
    char context[64];
    snprintf(context, sizeof context, "%s line %u is a vector", path, line_no);
    if (CHECK(bytes != NULL, context)) check_vector(line_no, route, bytes, len, verdict, &accepted, &rejected);
    free(bytes);
  }
  free(line);
  fclose(f);
  printf("golden: %u vectors accepted and %u rejected as the TypeScript codec did\n", accepted, rejected);
  CHECK(accepted >= SB_PROTO_TYPE_COUNT, "every message type has accepted vectors");
  CHECK(rejected > 0, "there are rejected vectors");
}
