#!/usr/bin/env python3
"""Run by `switchboard run` (optionally --isolate): reports what the program
sees.  Prints one JSON object: the switchboard environment, whether a TCP
connect to 127.0.0.1 works through the shim (`tcp`) and in a child without
the shim (`kernel_tcp`), and the operator's replies (hex) to a hello and a
connect sent through $SWITCHBOARD_SOCKET (pre-encoded, hex, in argv)."""
import errno, json, os, socket, subprocess, sys

out = {k: v for k, v in os.environ.items() if k.startswith('SWITCHBOARD_') or k == 'LD_PRELOAD'}
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    t.connect(('127.0.0.1', int(sys.argv[3])))
    out['tcp'] = 'connected'
except OSError as e:
    out['tcp'] = errno.errorcode[e.errno]
t.close()
KERNEL_CONNECT = """
import errno, socket, sys
t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
try:
    t.connect(('127.0.0.1', int(sys.argv[1])))
    print('connected')
except OSError as e:
    print(errno.errorcode[e.errno])
"""
env = {k: v for k, v in os.environ.items() if k != 'LD_PRELOAD'}
out['kernel_tcp'] = subprocess.run([sys.executable, '-c', KERNEL_CONNECT, sys.argv[3]], env=env,
                                   capture_output=True, text=True, check=True).stdout.strip()
c = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
c.connect(os.environ['SWITCHBOARD_SOCKET'])
c.send(bytes.fromhex(sys.argv[1]))
out['hello'] = c.recv(512).hex()
c.send(bytes.fromhex(sys.argv[2]))
reply, fds, _f, _a = socket.recv_fds(c, 512, 2)
out['connect'] = reply.hex()
out['fds'] = len(fds)
print(json.dumps(out))
