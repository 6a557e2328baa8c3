#include "samples.h"

#include <arpa/inet.h>
#include <string.h>

struct sb_proto_addr sb_sample_inet(const char *dotted, uint16_t port) {
  struct sb_proto_addr a;
  memset(&a, 0, sizeof a);
  a.family = SB_PROTO_AF_INET;
  a.port = port;
  if (inet_pton(AF_INET, dotted, a.addr) != 1) a.family = 0xffff; /* makes the test fail visibly */
  return a;
}

struct sb_proto_addr sb_sample_inet6(const char *text, uint16_t port, uint32_t flowinfo, uint32_t scope_id) {
  struct sb_proto_addr a;
  memset(&a, 0, sizeof a);
  a.family = SB_PROTO_AF_INET6;
  a.port = port;
  a.flowinfo = flowinfo;
  a.scope_id = scope_id;
  if (inet_pton(AF_INET6, text, a.addr) != 1) a.family = 0xffff;
  return a;
}

static struct sb_proto_geometry sample_geometry(void) {
  struct sb_proto_geometry g = {0};
  g.layout = 1;
  g.memfd_bytes = UINT64_C(4096) + 2 * (UINT64_C(1) << 20);
  g.ring_a_offset = 4096;
  g.ring_a_bytes = UINT32_C(1) << 20;
  g.ring_b_offset = UINT64_C(4096) + (UINT64_C(1) << 20);
  g.ring_b_bytes = UINT32_C(1) << 20;
  return g;
}

/* Fills the message of `type` and returns true, or returns false when there is no sample. */
static bool fill(struct sb_proto_msg *m) {
  switch (m->type) {
  case SB_PROTO_MSG_HELLO:
    m->request_id = 1;
    m->as.hello.pid = -2; /* a negative i32 must survive */
    m->as.hello.capabilities = SB_PROTO_SHIM_CAPS_ALL;
    strcpy(m->as.hello.shim_version, "0.1.0 \"dev\" \\ \x01");
    strcpy(m->as.hello.program, "nginx: worker \xe2\x82\xac \xf0\x9d\x84\x9e"); /* € and 𝄞 */
    return true;
  case SB_PROTO_MSG_HELLO_REPLY:
    m->request_id = 1;
    m->as.hello_reply.operator_pid = INT32_MAX;
    for (int i = 0; i < 16; i++) m->as.hello_reply.instance[i] = (uint8_t)(0xf0 + i);
    m->as.hello_reply.capabilities = SB_PROTO_SHIM_CAPS_ZERO_COPY | SB_PROTO_SHIM_CAPS_INET6;
    memset(m->as.hello_reply.operator_version, 'v', sizeof m->as.hello_reply.operator_version - 1); /* max length */
    strcpy(m->as.hello_reply.tenant, "\xef\xbb\xbftenant-a"); /* a leading BOM stays */
    return true;
  case SB_PROTO_MSG_OK:
    m->request_id = 0xffffffffu;
    return true;
  case SB_PROTO_MSG_MAILBOX_REPLY:
    m->request_id = 7;
    return true;
  case SB_PROTO_MSG_ERROR:
    m->request_id = 0; /* the operator could not read the request */
    m->as.error.errnum = 4095;
    strcpy(m->as.error.message, "policy denies tenant-a -> 10.0.0.1:22");
    return true;
  case SB_PROTO_MSG_BIND:
    m->request_id = 2;
    m->as.bind.socket_type = SB_PROTO_SOCKET_TYPE_DGRAM;
    m->as.bind.address = sb_sample_inet6("::", 0, 0, 0);
    m->as.bind.options = SB_PROTO_BIND_OPTIONS_REUSE_ADDR | SB_PROTO_BIND_OPTIONS_V6ONLY;
    return true;
  case SB_PROTO_MSG_BIND_REPLY:
    m->request_id = 2;
    m->as.bind_reply.reservation = UINT64_MAX;
    m->as.bind_reply.address = sb_sample_inet6("::ffff:127.0.0.1", 40000, 0, 0);
    return true;
  case SB_PROTO_MSG_RELEASE:
    m->request_id = 3;
    m->as.release.reservation = 7;
    return true;
  case SB_PROTO_MSG_LISTEN:
    m->request_id = 4;
    m->as.listen.reservation = 7;
    m->as.listen.backlog = 4096;
    return true;
  case SB_PROTO_MSG_UNLISTEN:
    m->request_id = 5;
    m->as.unlisten.reservation = 7;
    return true;
  case SB_PROTO_MSG_CONNECT:
    m->request_id = 6;
    m->as.connect.socket_type = SB_PROTO_SOCKET_TYPE_STREAM;
    m->as.connect.reservation = 0;
    m->as.connect.source.family = SB_PROTO_AF_UNSPEC;
    m->as.connect.destination = sb_sample_inet("10.1.2.3", 443);
    m->as.connect.options = SB_PROTO_CONNECT_OPTIONS_NONBLOCKING;
    return true;
  case SB_PROTO_MSG_CONNECT_GRANTED:
    m->request_id = 6;
    m->as.connect_granted.circuit = UINT64_C(0x0102030405060708);
    m->as.connect_granted.geometry = sample_geometry();
    m->as.connect_granted.local = sb_sample_inet("127.0.0.1", 51000);
    m->as.connect_granted.peer = sb_sample_inet("10.1.2.3", 443);
    m->as.connect_granted.in_progress = true;
    return true;
  case SB_PROTO_MSG_INCOMING:
    m->request_id = 0;
    m->as.incoming.circuit = 9;
    m->as.incoming.socket_type = SB_PROTO_SOCKET_TYPE_STREAM;
    m->as.incoming.geometry = sample_geometry();
    m->as.incoming.local = sb_sample_inet6("fe80::1", 80, 0x12345, 3);
    m->as.incoming.peer = sb_sample_inet6("fe80::2:0:0:1", 65535, 0, 3);
    return true;
  case SB_PROTO_MSG_CLAIM:
    m->request_id = 7;
    return true;
  case SB_PROTO_MSG_CLAIM_CIRCUIT:
    m->request_id = 7;
    m->as.claim_circuit.circuit = 9;
    m->as.claim_circuit.socket_type = SB_PROTO_SOCKET_TYPE_DGRAM;
    m->as.claim_circuit.role = SB_PROTO_ROLE_ACCEPTOR;
    m->as.claim_circuit.geometry = sample_geometry();
    m->as.claim_circuit.local = sb_sample_inet("0.0.0.0", 53);
    m->as.claim_circuit.peer = sb_sample_inet("255.255.255.255", 1);
    return true;
  case SB_PROTO_MSG_CLAIM_PORT:
    m->request_id = 7;
    m->as.claim_port.reservation = 8;
    m->as.claim_port.socket_type = SB_PROTO_SOCKET_TYPE_STREAM;
    m->as.claim_port.address = sb_sample_inet("127.0.0.1", 8080);
    m->as.claim_port.options = SB_PROTO_BIND_OPTIONS_ALL;
    m->as.claim_port.listening = true;
    m->as.claim_port.backlog = 128;
    return true;
  case SB_PROTO_MSG_SHUTDOWN:
    m->request_id = 0;
    m->as.shutdown.circuit = 9;
    m->as.shutdown.how = SB_PROTO_SHUTDOWN_HOW_RDWR;
    return true;
  case SB_PROTO_MSG_CLOSED:
    m->request_id = 0;
    m->as.closed.circuit = 9;
    m->as.closed.bytes_sent = UINT64_C(1) << 40;
    m->as.closed.bytes_received = 0;
    m->as.closed.reset = false;
    return true;
  case SB_PROTO_MSG_STATS_QUERY:
    m->request_id = 8;
    return true;
  case SB_PROTO_MSG_STATS_REPLY:
    m->request_id = 8;
    m->as.stats_reply.circuits_open = 3;
    m->as.stats_reply.circuits_total = 1000;
    m->as.stats_reply.listeners = 1;
    m->as.stats_reply.reservations = 2;
    m->as.stats_reply.connects_denied = 4;
    m->as.stats_reply.bytes_sent = UINT64_MAX;
    m->as.stats_reply.bytes_received = 12345;
    m->as.stats_reply.uptime_ms = 86400000;
    return true;
  }
  return false;
}

bool sb_sample(enum sb_proto_type type, struct sb_proto_msg *out) {
  memset(out, 0, sizeof *out);
  out->type = type;
  return fill(out);
}
