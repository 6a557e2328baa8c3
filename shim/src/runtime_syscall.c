/*
 * Runtime entry point for syscall(): system calls made by number.
 *
 * libuv (BIND 9, Node.js) calls close, dup3, sendmmsg and recvmmsg through
 * syscall() rather than through their libc functions, so without this the
 * shim would never see them: a datagram sent with a raw sendmmsg would go to
 * the kernel fd behind the socket (nowhere), and a raw close would leave the
 * shim's tables describing an fd number the kernel has already reused.  The
 * calls that involve sockets or fd numbers are routed to the runtime as if
 * called by name; every other number goes to the kernel as it came.  The
 * result follows syscall()'s convention (-1 and errno), which the runtime's
 * entry points already use.
 */
#include <sys/syscall.h>

#include "sb_libc.h"

long sb_syscall(long number, unsigned long a1, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5,
		unsigned long a6)
{
	switch (number) {
	case SYS_close:
		return sb_close((int)a1);
	case SYS_dup:
		return sb_dup((int)a1);
#ifdef SYS_dup2
	case SYS_dup2:
		return sb_dup2((int)a1, (int)a2);
#endif
	case SYS_dup3:
		return sb_dup3((int)a1, (int)a2, (int)a3);
	case SYS_read:
		return sb_read((int)a1, (void *)a2, (size_t)a3);
	case SYS_write:
		return sb_write((int)a1, (const void *)a2, (size_t)a3);
	case SYS_readv:
		return sb_readv((int)a1, (const struct iovec *)a2, (int)a3);
	case SYS_writev:
		return sb_writev((int)a1, (const struct iovec *)a2, (int)a3);
	case SYS_sendto:
		return sb_sendto((int)a1, (const void *)a2, (size_t)a3, (int)a4, (const struct sockaddr *)a5, (socklen_t)a6);
	case SYS_recvfrom:
		return sb_recvfrom((int)a1, (void *)a2, (size_t)a3, (int)a4, (struct sockaddr *)a5, (socklen_t *)a6);
	case SYS_sendmsg:
		return sb_sendmsg((int)a1, (const struct msghdr *)a2, (int)a3);
	case SYS_recvmsg:
		return sb_recvmsg((int)a1, (struct msghdr *)a2, (int)a3);
	case SYS_sendmmsg:
		return sb_sendmmsg((int)a1, (struct mmsghdr *)a2, (unsigned int)a3, (int)a4);
	case SYS_recvmmsg:
		return sb_recvmmsg((int)a1, (struct mmsghdr *)a2, (unsigned int)a3, (int)a4, (struct timespec *)a5);
	case SYS_socket:
		return sb_socket((int)a1, (int)a2, (int)a3);
	case SYS_bind:
		return sb_bind((int)a1, (const struct sockaddr *)a2, (socklen_t)a3);
	case SYS_connect:
		return sb_connect((int)a1, (const struct sockaddr *)a2, (socklen_t)a3);
	case SYS_listen:
		return sb_listen((int)a1, (int)a2);
	case SYS_accept:
		return sb_accept((int)a1, (struct sockaddr *)a2, (socklen_t *)a3);
	case SYS_accept4:
		return sb_accept4((int)a1, (struct sockaddr *)a2, (socklen_t *)a3, (int)a4);
	case SYS_shutdown:
		return sb_shutdown((int)a1, (int)a2);
	case SYS_getsockname:
		return sb_getsockname((int)a1, (struct sockaddr *)a2, (socklen_t *)a3);
	case SYS_getpeername:
		return sb_getpeername((int)a1, (struct sockaddr *)a2, (socklen_t *)a3);
	case SYS_getsockopt:
		return sb_getsockopt((int)a1, (int)a2, (int)a3, (void *)a4, (socklen_t *)a5);
	case SYS_setsockopt:
		return sb_setsockopt((int)a1, (int)a2, (int)a3, (const void *)a4, (socklen_t)a5);
	default:
		return libc_syscall(number, a1, a2, a3, a4, a5, a6);
	}
}
