"""AudioSocket (Asterisk 18+) as the live-audio reader: the framing, and the listener taking a
stream by its UUID alone (an unknown or reused UUID is refused, garbage dropped), the same
listener still serving EAGI scripts; and the Asterisk-in-a-root launcher's command line."""
from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from devstack.asterisk_server import AsteriskInstall, _outermost, major_version
from devstack.procs import ProcessError
from pbx.audiosocket import (
    KIND_ERROR,
    KIND_HANGUP,
    KIND_SLIN,
    KIND_UUID,
    AudioSocketError,
    encode,
    parse_header,
    stream_id,
)
from pbx.live_audio import LiveAudioServer, SpyCapture


def test_framing_round_trip_and_limits():
    frame = encode(KIND_SLIN, b"\x01\x02" * 160)
    assert frame[:3] == bytes((0x10, 0x01, 0x40))             # kind, length 320 big-endian
    assert parse_header(frame[:3]) == (KIND_SLIN, 320)
    assert encode(KIND_HANGUP) == b"\x00\x00\x00"
    u = uuid.uuid4()
    assert stream_id(u.bytes) == str(u)
    with pytest.raises(AudioSocketError):
        stream_id(b"short")
    with pytest.raises(AudioSocketError):
        encode(KIND_SLIN, b"x" * 70000)
    with pytest.raises(AudioSocketError):
        parse_header(b"\x10\x00")


async def asterisk_side(port: int, stream: str, frames: list[bytes], end: bytes = encode(KIND_HANGUP)) -> bytes:
    """What Asterisk's AudioSocket() sends: the UUID, slin frames, then hangup."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(encode(KIND_UUID, uuid.UUID(stream).bytes) + b"".join(encode(KIND_SLIN, f) for f in frames) + end)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


async def test_a_stream_is_taken_by_its_uuid_and_ends_on_hangup():
    server = LiveAudioServer()
    await server.start()
    key = server.expect("c9|caller", audiosocket=True)
    assert str(uuid.UUID(key)) == key                        # a UUID, as AudioSocket() requires
    frames = [bytes([i]) * 320 for i in range(5)]
    sender = asyncio.ensure_future(asterisk_side(server.port, key, frames))
    got = [d async for d in server.chunks("c9|caller", connect_timeout_s=5)]
    await sender
    assert got == frames
    assert server.refused == 0
    await server.close()


async def test_unknown_reused_or_garbage_streams_are_refused_and_the_real_one_gets_in():
    server = LiveAudioServer()
    await server.start()
    key = server.expect("c10|operator", audiosocket=True)
    await asterisk_side(server.port, str(uuid.uuid4()), [b"\x7f" * 320])        # a guessed UUID
    assert server.refused == 1
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)    # a UUID of 3 bytes
    writer.write(bytes((KIND_UUID, 0, 3)) + b"abc")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    real = asyncio.ensure_future(asterisk_side(server.port, key, [b"\x01" * 320], end=encode(KIND_ERROR, b"\x02")))
    got = [d async for d in server.chunks("c10|operator", connect_timeout_s=5)]
    await real
    assert got == [b"\x01" * 320]                            # an error frame ends the stream too
    await asterisk_side(server.port, key, [b"\x7f" * 320])   # the same UUID again: refused
    assert server.refused == 2
    await server.close()


async def test_the_same_listener_still_serves_eagi_scripts():
    server = LiveAudioServer()
    await server.start()
    key = server.expect("c11|caller")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(json.dumps({"tag": "c11|caller", "rate": 8000, "key": key}).encode() + b"\n" + b"\x05" * 640)
    await writer.drain()
    writer.close()
    got = b"".join([d async for d in server.chunks("c11|caller", connect_timeout_s=5)])
    assert got == b"\x05" * 640
    await server.close()


class FakeAMI:
    def __init__(self) -> None:
        self.calls: list[dict] = []

    async def originate(self, channel: str, **kw) -> None:
        self.calls.append({"channel": channel, **kw})


async def test_spy_capture_asks_for_audiosocket_with_the_streams_uuid(tmp_path):
    server = LiveAudioServer()
    await server.start()
    ami = FakeAMI()
    capture = SpyCapture(lambda: ami, server, tmp_path / "script", "hotline-live-spy", method="audiosocket")
    await capture.open("1796236250.12", {"caller": "PJSIP/trunk-00000001"})
    (call,) = ami.calls
    assert call["exten"] == "audiosocket" and call["context"] == "hotline-live-spy"
    v = call["variables"]
    assert v["LIVE_AUDIO_SERVICE"] == f"127.0.0.1:{server.port}"
    assert str(uuid.UUID(v["LIVE_AUDIO_KEY"])) == v["LIVE_AUDIO_KEY"]
    assert "LIVE_EAGI_ARGS" not in v
    with pytest.raises(ValueError):
        SpyCapture(lambda: ami, server, tmp_path / "script", "hotline-live-spy", method="ari")
    await server.close()


def test_the_root_install_binds_the_outermost_folders_and_chroots(tmp_path):
    root = tmp_path / "root"
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "usr" / "sbin" / "asterisk").write_text("")
    run, data = tmp_path / "run", tmp_path / "data"
    for d in (run, data, data / "recordings"):
        d.mkdir(parents=True, exist_ok=True)
    install = AsteriskInstall.from_root(root, (run, data / "recordings", data, tmp_path / "missing", Path("rel")))
    assert install.binds == tuple(sorted((run, data)))       # nested, missing and relative ones left out
    cmd = install.command("-C", "/x/asterisk.conf", "-rx", "core show version")
    assert cmd[:4] == ["unshare", "--mount", "--propagation", "private"]
    assert cmd[-4:] == ["-C", "/x/asterisk.conf", "-rx", "core show version"]
    assert cmd[cmd.index(str(root)) + 1:][:3] == ["2", *map(str, sorted((run, data)))]
    assert install.host_path("/usr/share/asterisk") == root / "usr/share/asterisk"
    assert AsteriskInstall().command("-V")[-1] == "-V"
    with pytest.raises(ProcessError):
        AsteriskInstall.from_root(tmp_path / "empty")
    assert _outermost((Path("/"),)) == ()                     # never the whole machine


def test_major_version():
    assert major_version("Asterisk 22.10.1+dfsg+~cs6.17.60671434-1") == 22
    assert major_version("Asterisk 16.28.0~dfsg-0+deb11u10") == 16
    assert major_version("") == 0 and major_version("bash: asterisk: not found") == 0
