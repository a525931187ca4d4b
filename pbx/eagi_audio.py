"""An EAGI script that forwards the channel's audio (file descriptor 3) to a
TCP listener: `EAGI(/path/script,HOST,PORT,TAG)`. It reads the stream's key
from the channel variable LIVE_AUDIO_KEY (AGI `GET VARIABLE`: not on the
command line, which every local user can read), sends one JSON line
{"tag": TAG, "rate": 8000, "key": KEY}, then the raw 16-bit little-endian
audio as Asterisk gives it, until the channel hangs up.

Asterisk writes fd 3 non-blocking: it is read continuously here, or frames
are dropped (ASTERISK.md). The only AGI command is that GET VARIABLE.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys


def read_key() -> str:
    """LIVE_AUDIO_KEY of this channel: `200 result=1 (KEY)`; "" when unset."""
    sys.stdout.write("GET VARIABLE LIVE_AUDIO_KEY\n")
    sys.stdout.flush()
    reply = sys.stdin.readline().strip()
    if reply.startswith("200 result=1 (") and reply.endswith(")"):
        return reply[len("200 result=1 ("):-1]
    return ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    host, port, tag = argv[0], int(argv[1]), argv[2]
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    for line in sys.stdin:                     # agi_request: ... up to the blank line
        if not line.strip():
            break
    key = read_key()
    rate = 16000 if os.environ.get("EAGI_AUDIO_FORMAT", "").startswith("slin16") else 8000
    with socket.create_connection((host, port), timeout=5) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall((json.dumps({"tag": tag, "rate": rate, "key": key}) + "\n").encode())
        while True:
            try:
                data = os.read(3, 4096)
            except BlockingIOError:
                select.select([3], [], [], 1.0)
                continue
            except OSError:
                break
            if not data:
                break
            sock.sendall(data)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
