#!/usr/bin/env python3
"""A process sharing a listening port fd (fd 3, inherited as after fork): accept()
is one recvmsg of one `incoming` message with its two fds.  Prints one line per
connection taken: the message's bytes in hex and how many fds came with it.
Stops after `idle` seconds without a connection."""
import array, select, socket, sys

idle = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
port = socket.socket(fileno=3)
while True:
    ready, _, _ = select.select([port], [], [], idle)
    if not ready:
        break
    try:
        msg, fds, _flags, _addr = socket.recv_fds(port, 512, 2, socket.MSG_DONTWAIT)
    except BlockingIOError:
        continue  # the other process took it
    if not msg:
        break
    print(msg.hex(), len(fds), flush=True)
    for fd in fds:
        socket.close(fd)
