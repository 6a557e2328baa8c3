#include "control.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench.h"

int control_open(const char *path, const char *program)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof sa.sun_path)
		dief("socket path too long: %s", path);
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die(path);
	struct sb_proto_msg m = { .type = SB_PROTO_MSG_HELLO, .request_id = 1 };
	m.as.hello.pid = (int32_t)getpid();
	strcpy(m.as.hello.shim_version, "bench");
	strncpy(m.as.hello.program, program, sizeof m.as.hello.program - 1);
	struct sb_proto_msg reply;
	int fds[2];
	control_call(fd, &m, SB_PROTO_MSG_HELLO_REPLY, &reply, fds);
	return fd;
}

void control_send(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	struct iovec iov = { (void *)buf, len };
	char control[CMSG_SPACE(2 * sizeof(int))];
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	if (nfds > 0) {
		mh.msg_control = control;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
	}
	if (sendmsg(fd, &mh, MSG_NOSIGNAL) != (ssize_t)len)
		die("send to the operator");
}

int control_recv(int fd, enum sb_proto_route route, struct sb_proto_msg *out, int fds[2])
{
	unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE];
	char control[CMSG_SPACE(SB_PROTO_MAX_FDS * sizeof(int))];
	struct iovec iov = { buf, sizeof buf };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control };
	ssize_t n;
	do
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die("receive from the operator");
	if (n == 0)
		dief("the operator closed the connection");
	int nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (int i = 0; i < k && nfds < 2; i++)
			memcpy(&fds[nfds++], CMSG_DATA(c) + (size_t)i * sizeof(int), sizeof(int));
	}
	struct sb_proto_fault fault;
	if (sb_proto_decode(buf, (size_t)n, route, out, &fault) != SB_PROTO_OK)
		dief("undecodable message from the operator: %s at %u", sb_proto_status_name(fault.status), fault.offset);
	return nfds;
}

void control_call(int fd, const struct sb_proto_msg *req, enum sb_proto_type want, struct sb_proto_msg *reply, int fds[2])
{
	unsigned char buf[SB_PROTO_MAX_MESSAGE_SIZE];
	size_t len;
	if (sb_proto_encode(req, buf, sizeof buf, &len) != SB_PROTO_OK)
		dief("cannot encode a request");
	control_send(fd, buf, len, NULL, 0);
	control_recv(fd, SB_PROTO_ROUTE_OPERATOR_TO_SHIM, reply, fds);
	if (reply->type == SB_PROTO_MSG_ERROR)
		dief("the operator refused: %s (errno %d)", reply->as.error.message, reply->as.error.errnum);
	if (reply->type != want)
		dief("unexpected reply type %d", (int)reply->type);
}

struct sb_proto_addr inet_loopback(uint16_t port)
{
	struct sb_proto_addr a = { .family = 2 /* AF_INET */, .port = port };
	a.addr[0] = 127;
	a.addr[3] = 1;
	return a;
}
