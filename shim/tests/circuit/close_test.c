/*
 * close() in the shim's runtime (shim/src/runtime_fd.c, sb_close) closes a
 * registered circuit before the fd: the peer reads what was sent, then EOF;
 * or sees a reset when unread bytes were left behind.  Linked with the
 * runtime and the generated libc layer directly, since the shim's own fd
 * table is hidden inside libswitchboard.so.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "fdtab.h"
#include "sb_libc.h"
#include "support.h"

TEST(close_is_an_orderly_close_of_the_circuit)
{
	int sv[2];
	CHECK_EQ(sb_circuit_socketpair(SOCK_STREAM, sv), 0);
	struct sb_circuit *peer = sb_fdtab_get(sv[1]);
	CHECK_EQ(send_buf(sb_fdtab_get(sv[0]), "bye", 3, 0), 3);
	CHECK_EQ(sb_close(sv[0]), 0);
	CHECK(sb_fdtab_get(sv[0]) == NULL);
	CHECK_EQ(fcntl(sv[0], F_GETFD), -1); /* the kernel fd is gone too */
	CHECK_EQ(errno, EBADF);
	char buf[8];
	CHECK_EQ(recv_buf(peer, buf, sizeof buf, 0), 3);
	CHECK_EQ(recv_buf(peer, buf, sizeof buf, 0), 0);
	CHECK_EQ(send_buf(peer, "x", 1, 0), -EPIPE);
	CHECK_EQ(sb_close(sv[1]), 0);
}

TEST(close_with_unread_bytes_resets_the_circuit)
{
	int sv[2];
	CHECK_EQ(sb_circuit_socketpair(SOCK_STREAM, sv), 0);
	struct sb_circuit *peer = sb_fdtab_get(sv[1]);
	CHECK_EQ(send_buf(peer, "unread", 6, 0), 6);
	CHECK_EQ(sb_close(sv[0]), 0);
	char c;
	CHECK_EQ(recv_buf(peer, &c, 1, 0), -ECONNRESET);
	CHECK_EQ(sb_close(sv[1]), 0);
}

TEST(close_of_other_fds_is_plain_close)
{
	int pipefd[2];
	CHECK_EQ(pipe(pipefd), 0);
	errno = 1234;
	CHECK_EQ(sb_close(pipefd[0]), 0);
	CHECK_EQ(errno, 1234);
	CHECK_EQ(sb_close(pipefd[0]), -1);
	CHECK_EQ(errno, EBADF);
	CHECK_EQ(sb_close(pipefd[1]), 0);
}
