#!/usr/bin/env python3
"""Connects to a tenant socket (as whatever user runs it), sends a pre-encoded
hello (hex) and prints the reply in hex, or `errno NAME` when the kernel
refuses the connection."""
import errno, socket, sys

path, hello_hex = sys.argv[1:3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
try:
    s.connect(path)
except OSError as e:
    print("errno", errno.errorcode[e.errno])
    sys.exit(0)
s.send(bytes.fromhex(hello_hex))
print(s.recv(512).hex())
