/* The kernel baselines: TCP over loopback and an AF_UNIX stream socketpair. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

static void tcp_pair(const struct pair_opts *o, int fds[2])
{
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0)
		die("socket");
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof a;
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		die("tcp listener");
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&a, sizeof a) < 0)
		die("tcp connect");
	fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (fds[1] < 0)
		die("tcp accept");
	close(l);
	int on = o->nodelay ? 1 : 0;
	for (int i = 0; i < 2; i++)
		if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) < 0)
			die("TCP_NODELAY");
}

void kernel_pair(enum transport t, const struct pair_opts *o, int fds[2])
{
	if (t == T_TCP)
		tcp_pair(o, fds);
	else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
		die("socketpair");
}

void kernel_send(struct conn *c, size_t len)
{
	payload_fill(c->buf, len, c->off);
	for (size_t done = 0; done < len;) {
		ssize_t n = send(c->fd, c->buf + done, len - done, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("send");
		}
		done += (size_t)n;
	}
	c->off += len;
}

void kernel_recv(struct conn *c, size_t len)
{
	for (size_t done = 0; done < len;) {
		ssize_t n = recv(c->fd, c->buf + done, len - done, MSG_WAITALL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("recv");
		}
		if (n == 0)
			dief("recv: unexpected EOF");
		done += (size_t)n;
	}
	c->bad |= payload_check(c->buf, len, c->off);
	c->off += len;
}
