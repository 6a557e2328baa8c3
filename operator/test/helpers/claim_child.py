#!/usr/bin/env python3
"""Receives a circuit endpoint over SCM_RIGHTS (fd 3), connects to the tenant
socket, says hello and claims the endpoint (the pre-encoded messages come in
hex from argv), then prints the claim's reply in hex and, when it came with a
memfd, `length` bytes of that memory at `offset`."""
import os, socket, sys

tenant_socket, hello_hex, claim_hex, offset, length = sys.argv[1:6]
carrier = socket.socket(fileno=3)
_msg, fds, _f, _a = socket.recv_fds(carrier, 16, 1)
endpoint = fds[0]
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c.connect(tenant_socket)
c.send(bytes.fromhex(hello_hex))
c.recv(512)
socket.send_fds(c, [bytes.fromhex(claim_hex)], [endpoint])
reply, rfds, _f, _a = socket.recv_fds(c, 512, 2)
print(reply.hex())
if rfds:
    print(os.pread(rfds[0], int(length), int(offset)).hex())
