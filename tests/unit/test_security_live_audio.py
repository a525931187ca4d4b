"""Issue #12 item 15: a live-audio stream can only be claimed with its per-call key. A local
process that guesses the tag (call id | speaker) and connects first cannot inject its audio."""
from __future__ import annotations

import asyncio
import json
import os

from pbx.live_audio import LiveAudioServer, install_script


async def send(port: int, head: dict | str, audio: bytes = b"") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write((head if isinstance(head, str) else json.dumps(head)).encode() + b"\n" + audio)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)     # "" once the server has closed it
    except ConnectionResetError:                             # closed before it read what we sent
        return b""
    finally:
        writer.close()


async def test_an_intruder_that_connects_first_with_the_tag_is_refused_and_the_real_script_gets_in(tmp_path):
    server = LiveAudioServer()
    await server.start()
    key = server.expect("c1|caller")
    # the intruder knows the tag, not the key: refused, with or without a guessed key
    await send(server.port, {"tag": "c1|caller", "rate": 8000}, b"\x7f" * 3200)
    await send(server.port, {"tag": "c1|caller", "rate": 8000, "key": "guess"}, b"\x7f" * 3200)
    await send(server.port, "not json", b"\x7f" * 100)
    assert server.refused == 2
    # the real EAGI script, with the key Asterisk hands it, is still accepted
    script = install_script(tmp_path / "agi-bin")
    audio = bytes(range(256)) * 20
    r, w = os.pipe()
    proc = await asyncio.create_subprocess_exec(
        "/bin/bash", "-c", f'exec "$0" "$@" 3<&{r}', str(script), "127.0.0.1", str(server.port), "c1|caller",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, pass_fds=(r,))
    proc.stdin.write(b"agi_request: x\n\n")
    await proc.stdin.drain()
    await asyncio.wait_for(proc.stdout.readline(), 10)
    proc.stdin.write(f"200 result=1 ({key})\n".encode())
    await proc.stdin.drain()
    os.close(r)
    os.write(w, audio)
    os.close(w)
    got = b"".join([d async for d in server.chunks("c1|caller", connect_timeout_s=10)])
    assert await asyncio.wait_for(proc.wait(), 10) == 0
    assert got == audio                                  # only the real audio, none of the intruder's
    await server.close()


async def test_a_stream_already_connected_cannot_be_joined_even_with_its_key():
    server = LiveAudioServer()
    await server.start()
    key = server.expect("c2|operator")
    first = asyncio.ensure_future(send(server.port, {"tag": "c2|operator", "rate": 8000, "key": key}))
    chunks = server.chunks("c2|operator", connect_timeout_s=5)
    await asyncio.sleep(0.2)
    await send(server.port, {"tag": "c2|operator", "rate": 8000, "key": key}, b"\x01" * 10)
    assert server.refused == 1
    await server.close()
    first.cancel()
    await chunks.aclose()


async def test_connections_from_addresses_that_are_not_allowed_are_refused():
    server = LiveAudioServer(allowed_peers=("10.255.255.0/24",))      # not loopback
    await server.start()
    key = server.expect("c3|caller")
    await send(server.port, {"tag": "c3|caller", "rate": 8000, "key": key}, b"\x01" * 10)
    assert server.refused == 1 and not server._streams["c3|caller"].connected.is_set()
    await server.close()
