/*
 * switchboard/zerocopy.h — read and write a circuit's rings in place.
 *
 * For a program that wants more than send()/recv(): instead of copying
 * through a buffer, reserve a span of the send ring, write into it, commit
 * it; peek at the bytes waiting in the receive ring, use them, release them.
 * Spans are iovecs, so a ring's wrap-around is explicit: one or two of them.
 *
 * These functions are exported by libswitchboard.so.  They work on a program's
 * own stream socket fds that are circuits.  On any other fd they fail, so a
 * program can fall back to send()/recv():
 *   EBADF       fd is not open
 *   ENOTSOCK    fd is not a socket
 *   EOPNOTSUPP  fd is a socket but not a circuit (or a datagram circuit)
 *
 * Errors while using a circuit are those of send()/recv() on it: EAGAIN
 * (MSG_DONTWAIT, or an O_NONBLOCK socket), EPIPE, ECONNRESET, EPROTO (the
 * peer corrupted the circuit), EINTR.  Blocking calls wait like recv()/send().
 * EINVAL: flags other than MSG_DONTWAIT / MSG_NOSIGNAL, or committing /
 * releasing more than was reserved / peeked; EMSGSIZE: `min` larger than the
 * ring.  These calls never raise SIGPIPE.  The peer can write the ring too:
 * copy what you validate out of a peeked span before trusting it.
 *
 * A reserved span stays reserved until committed, and may be committed in
 * pieces: each commit publishes the next bytes of it, the rest stays
 * reserved (commit 0 gives the rest up).  A peeked span stays valid until
 * released, in pieces too.  So a program writing small messages reserves
 * once per span and commits per message (and a reader peeks once and
 * releases per message): two calls a message, where send()/recv() make two
 * copies.  One reservation and one peek may be outstanding per socket at a
 * time; a new reserve or peek replaces it.
 *
 *     struct iovec iov[2]; int n;
 *     ssize_t room = sb_zc_send_reserve(fd, 1, iov, &n, 0);
 *     if (room < 0 && (errno == EOPNOTSUPP || errno == ENOTSOCK)) ... use send() ...
 *     size_t used = fill(iov, n);                 // write straight into the ring
 *     sb_zc_send_commit(fd, used);                // the peer may now read it
 *
 *     ssize_t avail = sb_zc_recv_peek(fd, iov, &n, 0);   // 0: EOF
 *     size_t taken = consume(iov, n);
 *     sb_zc_recv_release(fd, taken);
 */
#ifndef SWITCHBOARD_ZEROCOPY_H
#define SWITCHBOARD_ZEROCOPY_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* 1 if fd is a stream circuit the zero-copy calls work on, 0 if not (errno says why). */
int sb_zc_is_circuit(int fd);

/* Reserves at least `min` bytes of the send ring (waiting for room unless
 * MSG_DONTWAIT), fills iov[0..*iovcnt) with everything free (at most two
 * spans) and returns their total length. */
ssize_t sb_zc_send_reserve(int fd, size_t min, struct iovec iov[2], int *iovcnt, int flags);

/* Publishes the next `len` bytes of the reservation to the peer (len <= what is still reserved);
 * the rest stays reserved, starting right after them.  0 gives the rest up. */
int sb_zc_send_commit(int fd, size_t len);

/* Waits for data (unless MSG_DONTWAIT), fills iov with the readable bytes (at
 * most two spans) and returns their total; 0 means the peer shut down writing. */
ssize_t sb_zc_recv_peek(int fd, struct iovec iov[2], int *iovcnt, int flags);

/* Consumes the next `len` peeked bytes, making room for the peer; the rest stays peeked. */
int sb_zc_recv_release(int fd, size_t len);

#ifdef __cplusplus
}
#endif

#endif
