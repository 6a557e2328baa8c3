/* A minimal shim-side client of the operator's control socket (what the shim will do), for the benchmark. */
#ifndef SB_BENCH_CONTROL_H
#define SB_BENCH_CONTROL_H

#include "sb_protocol.h"

/* Connects to a tenant socket and says hello; the fd. */
int control_open(const char *path, const char *program);

/* Sends an encoded message with fds; dies on failure. */
void control_send(int fd, const void *buf, size_t len, const int *fds, int nfds);

/* Receives one message of `route`, with up to 2 fds; dies on EOF or a bad message.  Returns the fd count. */
int control_recv(int fd, enum sb_proto_route route, struct sb_proto_msg *out, int fds[2]);

/* A request and its reply; dies unless the reply has type `want`. */
void control_call(int fd, const struct sb_proto_msg *req, enum sb_proto_type want, struct sb_proto_msg *reply, int fds[2]);

struct sb_proto_addr inet_loopback(uint16_t port);

#endif
