#!/usr/bin/env python3
"""A client that stops in the middle of a setup and waits to be killed:
sends each pre-encoded message (hex) on a new control connection, reads a
reply only for those marked with a trailing '!', keeps every fd it receives,
prints `ready` and sleeps."""
import socket, sys, time

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(path)
kept = []
for arg in sys.argv[2:]:
    wait = arg.endswith('!')
    s.send(bytes.fromhex(arg.rstrip('!')))
    if wait:
        _msg, fds, _f, _a = socket.recv_fds(s, 512, 2)
        kept.extend(fds)
print('ready', flush=True)
time.sleep(3600)
