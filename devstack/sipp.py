"""Real SIP peers for tests and `hotline bench sip`: SIPp (Debian's sip-tester) as a carrier, a registrar or a
seat phone, with real RTP built here from the standard library, and baresip as a phone.

- ``RtpStream``: one continuous RTP stream (20 ms packets, one SSRC): speech or silence as PCMA, RFC 4733
  digits (payload 101), or digits as in-band tones; written as a pcap SIPp plays (``play_pcap_audio``).
- ``carrier_uac`` / ``registrar_uas`` / ``seat_uas`` / ``refused_uac``: SIPp scenario XML.
- ``Sipp``: one SIPp process on a free port of a loopback address, its SIP messages logged to a file
  that tests read (``messages()``), stopped by its own pid.
- ``Baresip``: a baresip softphone registered to the hotline as a seat (auto answer, plays a WAV).

Only 127.0.0.0/8 is ever used. Tests import it as ``tests.sip``.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

SIPP = shutil.which("sipp")
BARESIP = shutil.which("baresip")
PT_PCMA, PT_PCMU, PT_EVENT = 8, 0, 101
FRAME = 160                                   # 20 ms at 8 kHz
DTMF_FREQS = {"1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "4": (770, 1209), "5": (770, 1336),
              "6": (770, 1477), "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "*": (941, 1209),
              "0": (941, 1336), "#": (941, 1477)}
EVENT_CODES = {**{str(i): i for i in range(10)}, "*": 10, "#": 11}


# ---------------------------------------------------------------- G.711 and audio


def _alaw_sample(s: int) -> int:
    """One 16-bit linear sample to A-law (ITU-T G.711)."""
    sign = 0x80 if s >= 0 else 0
    if s < 0:
        s = -s - 1 if s > -32768 else 32767
    s >>= 3                                   # 13-bit magnitude
    if s < 32:
        exp, mant = 0, s >> 1
    else:
        exp = s.bit_length() - 5
        mant = (s >> exp) & 0x0F
        exp = min(exp, 7)
    return ((exp << 4) | mant | sign) ^ 0x55


_ALAW = bytes(_alaw_sample(v - 32768) for v in range(65536))


def alaw(pcm16: bytes) -> bytes:
    """Signed 16-bit little-endian PCM to A-law."""
    n = len(pcm16) // 2
    return bytes(_ALAW[v + 32768] for v in struct.unpack(f"<{n}h", pcm16[:n * 2]))


def read_wav_8k(path: Path) -> bytes:
    """A mono 16-bit WAV as 8 kHz PCM (resampled with sox when it is not 8 kHz already)."""
    with wave.open(str(path)) as w:
        if w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2:
            return w.readframes(w.getnframes())
    out = subprocess.run(["sox", str(path), "-t", "raw", "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer",
                          "-"], check=True, capture_output=True).stdout
    return out


def tone(freqs: tuple[int, ...], seconds: float, level: float = 0.25) -> bytes:
    n = int(seconds * 8000)
    amp = 32767 * level / max(1, len(freqs))
    return struct.pack(f"<{n}h", *(int(sum(amp * math.sin(2 * math.pi * f * i / 8000) for f in freqs))
                                   for i in range(n)))


def line_noise(seconds: float, seed: int = 3) -> bytes:
    """Silence as a phone line has it (a few LSB of noise): frames keep coming."""
    rng = random.Random(seed)
    n = int(seconds * 8000)
    return struct.pack(f"<{n}h", *(rng.randint(-6, 6) for _ in range(n)))


# ---------------------------------------------------------------- RTP and pcap


@dataclass
class RtpStream:
    """An RTP stream built packet by packet, 20 ms apart, as a phone or an SBC sends it."""

    ssrc: int = 0x12345678
    packets: list[tuple[float, bytes]] = field(default_factory=list)   # (send time s, RTP packet)
    seq: int = 1
    ts: int = 0
    t: float = 0.0
    marker: bool = True

    def _packet(self, pt: int, payload: bytes, ts: int, marker: bool = False) -> bytes:
        head = struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, self.seq & 0xFFFF, ts & 0xFFFFFFFF, self.ssrc)
        self.seq += 1
        return head + payload

    def audio(self, pcm16: bytes) -> RtpStream:
        """PCMA frames of this 8 kHz audio (the last frame padded with silence)."""
        data = alaw(pcm16)
        for i in range(0, len(data), FRAME):
            frame = data[i:i + FRAME].ljust(FRAME, b"\xd5")
            self.packets.append((self.t, self._packet(PT_PCMA, frame, self.ts, self.marker)))
            self.marker = False
            self.ts += FRAME
            self.t += 0.02
        return self

    def silence(self, seconds: float) -> RtpStream:
        return self.audio(line_noise(seconds, seed=int(self.t * 50) + 1))

    def gap(self, seconds: float) -> RtpStream:
        """No packets at all for this long (silence suppression, a dead line); the clock goes on."""
        self.t += seconds
        self.ts += int(seconds * 8000)
        self.marker = True
        return self

    def rfc4733(self, digit: str, ms: int = 200, volume: int = 10) -> RtpStream:
        """An RFC 4733 event: one timestamp, growing duration every 20 ms, the end sent three times."""
        code, start = EVENT_CODES[digit], self.ts
        steps = max(1, ms // 20)
        for k in range(1, steps + 1):
            payload = struct.pack("!BBH", code, volume & 0x3F, k * FRAME)
            self.packets.append((self.t, self._packet(PT_EVENT, payload, start, marker=(k == 1))))
            self.t += 0.02
            self.ts += FRAME
        end = struct.pack("!BBH", code, 0x80 | (volume & 0x3F), steps * FRAME)
        for _ in range(3):
            self.packets.append((self.t - 0.02, self._packet(PT_EVENT, end, start)))
        return self

    def inband(self, digit: str, ms: int = 200) -> RtpStream:
        """The digit as a DTMF tone inside the audio (gateways with no RFC 4733)."""
        return self.audio(tone(DTMF_FREQS[digit], ms / 1000))

    @property
    def duration(self) -> float:
        return self.t

    def pcap(self, path: Path, src: tuple[str, int] = ("127.0.0.2", 6000),
             dst: tuple[str, int] = ("127.0.0.1", 10000)) -> Path:
        """Write the stream as a pcap (Ethernet/IPv4/UDP); SIPp replaces the addresses when it plays it."""
        out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
        sip, dip = socket.inet_aton(src[0]), socket.inet_aton(dst[0])
        for i, (t, rtp) in enumerate(self.packets):
            udp = struct.pack("!HHHH", src[1], dst[1], 8 + len(rtp), 0) + rtp
            ip_head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), i & 0xFFFF, 0, 64, 17, 0, sip, dip)
            ip_head = ip_head[:10] + struct.pack("!H", _checksum(ip_head)) + ip_head[12:]
            frame = b"\x00" * 12 + b"\x08\x00" + ip_head + udp
            sec = int(t)
            out.append(struct.pack("<IIII", 1_000_000_000 + sec, int(round((t - sec) * 1e6)) % 1_000_000,
                                   len(frame), len(frame)) + frame)
        Path(path).write_bytes(b"".join(out))
        return Path(path)


def _checksum(data: bytes) -> int:
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


# ---------------------------------------------------------------- ports


def free_port(ip: str = "127.0.0.1", kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def baresip_config(ip: str, sip_port: int, ctrl_port: int, wav: Path | str, extra: str = "") -> str:
    """A baresip `config`: SIP on ip:sip_port, `wav` as the microphone, nothing played, G.711, the
    ctrl_tcp socket on ip:ctrl_port (dial, answer, hang up from the test); `extra` lines appended."""
    return f"""poll_method epoll
sip_listen {ip}:{sip_port}
audio_source aufile,{wav}
audio_player aufile,/dev/null
module_path /usr/lib/baresip/modules
module stdio.so
module g711.so
module aufile.so
module_app account.so
module_app menu.so
module_app ctrl_tcp.so
ctrl_tcp_listen {ip}:{ctrl_port}
""" + extra


def free_udp_tcp_port(ip: str = "127.0.0.1") -> int:
    """A port free for both UDP and TCP now."""
    for _ in range(200):
        p = free_port(ip)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind((ip, p))
        except OSError:
            continue
        return p
    raise OSError(f"no port free for both UDP and TCP on {ip}")


def free_even_port(ip: str) -> int:
    """An even UDP port with its odd neighbour free too (an RTP/RTCP pair)."""
    for _ in range(200):
        p = free_port(ip) & ~1
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as a, \
                    socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as b:
                a.bind((ip, p))
                b.bind((ip, p + 1))
            return p
        except OSError:
            continue
    raise RuntimeError(f"no free RTP pair on {ip}")


# ---------------------------------------------------------------- SIPp scenarios

_SDP = """v=0
o=- 1 1 IN IP[media_ip_type] [media_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP {pts}
{rtpmaps}a=ptime:20
a=sendrecv
"""


def _sdp(offer_event: bool = True) -> str:
    pts = "8 0 101" if offer_event else "8 0"
    maps = "a=rtpmap:8 PCMA/8000\na=rtpmap:0 PCMU/8000\n"
    if offer_event:
        maps += "a=rtpmap:101 telephone-event/8000\na=fmtp:101 0-16\n"
    return _SDP.format(pts=pts, rtpmaps=maps)


def _cdata(text: str) -> str:
    return "<![CDATA[\n" + text.strip("\n") + "\n\n]]>"


def _invite(caller: str, did: str, offer_event: bool, uri_extra: str = "", from_display: str = "") -> str:
    frm = f'"{from_display}" ' if from_display else ""
    return f"""INVITE sip:{did}@[remote_ip]:[remote_port]{uri_extra} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: {frm}<sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:{did}@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
User-Agent: carrier-sbc
Content-Type: application/sdp
Content-Length: [len]

{_sdp(offer_event)}"""


_ACK = """ACK sip:{did}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
"""

_BYE = """BYE sip:{did}@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 2 BYE
Contact: <sip:{caller}@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
"""

_OK_TO_BYE = """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[local_ip]:[local_port]>
Content-Length: 0
"""


def carrier_uac(*, pcap: Path | None, caller: str = "13900001111", did: str = "12345", talk_ms: int = 20000,
                offer_event: bool = True, send_bye: bool = True, wait_bye_ms: int = 0, uri_extra: str = "",
                from_display: str = "", bye_required: bool = False) -> str:
    """The carrier's INVITE with PCMA/PCMU (+ telephone-event), the caller's line played from ``pcap``;
    then a BYE after ``talk_ms`` unless the hotline hangs up first (its BYE answered with 200).

    send_bye False: never send a BYE (a dead line); wait ``wait_bye_ms`` for the hotline's BYE.
    bye_required: the hotline must hang up within ``talk_ms`` (else the call counts as failed)."""
    play = f'<nop><action><exec play_pcap_audio="{escape(str(pcap))}"/></action></nop>' if pcap else ""
    wait = talk_ms if send_bye else (wait_bye_ms or talk_ms)
    if bye_required:
        recv_bye = f'<recv request="BYE" timeout="{int(wait)}"/>'
        send_bye = False
    else:
        recv_bye = f'<recv request="BYE" timeout="{int(wait)}" ontimeout="{"bye" if send_bye else "end"}"/>'
    after = """
  <label id="bye"/>
  <send retrans="500">""" + _cdata(_BYE.format(did=did, caller=caller)) + """</send>
  <recv response="200" crlf="true"/>
  <nop next="end"/>""" if send_bye else ""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="carrier">
  <send retrans="500">{_cdata(_invite(caller, did, offer_event, uri_extra, from_display))}</send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
  <send>{_cdata(_ACK.format(did=did, caller=caller))}</send>
  {play}
  {recv_bye}
  <send>{_cdata(_OK_TO_BYE)}</send>
  <nop next="end"/>
  {after}
  <label id="end"/>
</scenario>
"""


def refused_uac(*, caller: str = "13900001111", did: str = "12345") -> str:
    """An INVITE that must be refused (401/403/404); ACKed, then the scenario ends."""
    ack = f"""ACK sip:{did}@[remote_ip]:[remote_port] SIP/2.0
[last_Via:]
[last_From:]
[last_To:]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Length: 0
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="refused">
  <send retrans="500">{_cdata(_invite(caller, did, True))}</send>
  <recv response="100" optional="true"/>
  <recv response="401" optional="true" next="ack"/>
  <recv response="403" optional="true" next="ack"/>
  <recv response="404" next="ack"/>
  <label id="ack"/>
  <send>{_cdata(ack)}</send>
</scenario>
"""


def registrar_uas(*, username: str, secret: str, realm: str = "carrier", hold_ms: int = 120000) -> str:
    """A carrier that wants registration: challenges the REGISTER (401, digest), checks the answer and
    accepts it (200) or refuses it (403); then stays up ``hold_ms``. The contact that registered (with
    its ``line`` parameter) is in the message log: ``registered_contact()``; send the call in with
    ``carrier_uac(uri_extra=";line=...")`` from the same address."""
    challenge = f"""SIP/2.0 401 Unauthorized
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
WWW-Authenticate: Digest realm="{realm}", nonce="[pid]n[call_number]", algorithm=MD5
Content-Length: 0
"""
    ok = """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Contact:];expires=3600
Content-Length: 0
"""
    forbidden = """SIP/2.0 403 Forbidden
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
"""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="registrar">
  <recv request="REGISTER"/>
  <send>{_cdata(challenge)}</send>
  <recv request="REGISTER">
    <action>
      <verifyauth assign_to="authok" username="{escape(username)}" password="{escape(secret)}"/>
    </action>
  </recv>
  <nop hide="true" test="authok" next="good"/>
  <send next="end">{_cdata(forbidden)}</send>
  <label id="good"/>
  <send>{_cdata(ok)}</send>
  <pause milliseconds="{int(hold_ms)}"/>
  <label id="end"/>
</scenario>
"""


def registered_contact(registrar: Sipp) -> tuple[str, int, str] | None:
    """(host, port, line) of the contact the registrar accepted, from its message log."""
    for msg in reversed(registrar.received("REGISTER")):
        if "Authorization:" in msg:
            m = re.search(r"^Contact:.*sip:[^@>]*@([0-9.]+):(\d+)[^>]*;line=([A-Za-z0-9]+)", msg, re.M)
            if m:
                return m.group(1), int(m.group(2)), m.group(3)
    return None


def seat_uas(*, pcap: Path | None, talk_ms: int = 3000) -> str:
    """A seat phone answering each INVITE (SIPp UAS): 180, 200 with PCMA, talks from ``pcap``, then BYE
    (answers the hotline's BYE when it comes first). Its responses copy the INVITE's Record-Route (RFC 3261
    12.1.1), so behind a proxy (Kamailio, whose topology hiding masks the phone's Contact) the ACK and BYE
    come back through the proxy."""
    ringing = """SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0
"""
    ok = """SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Type: application/sdp
Content-Length: [len]

v=0
o=- 1 1 IN IP[media_ip_type] [media_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=ptime:20
"""
    bye = """BYE [$contact] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: [$to_hdr];tag=[pid]SIPpTag01[call_number]
To: [$from_hdr]
[last_Call-ID:]
CSeq: 2 BYE
Max-Forwards: 70
Content-Length: 0
"""
    play = f'<nop><action><exec play_pcap_audio="{escape(str(pcap))}"/></action></nop>' if pcap else ""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="seat">
  <recv request="INVITE" crlf="true">
    <action>
      <ereg regexp="[^ ].*" search_in="hdr" header="From:" check_it="true" assign_to="from_hdr"/>
      <ereg regexp="[^ ][^;]*" search_in="hdr" header="To:" check_it="true" assign_to="to_hdr"/>
      <ereg regexp="&lt;([^&gt;]*)&gt;" search_in="hdr" header="Contact:" check_it="true" assign_to="junk,contact"/>
      <log message="call from [$junk]"/>
    </action>
  </recv>
  <send>{_cdata(ringing)}</send>
  <send retrans="500">{_cdata(ok)}</send>
  <recv request="ACK" rtd="true" crlf="true"/>
  {play}
  <recv request="BYE" timeout="{int(talk_ms)}" ontimeout="bye"/>
  <send next="end">{_cdata(_OK_TO_BYE)}</send>
  <label id="bye"/>
  <send retrans="500">{_cdata(bye)}</send>
  <recv response="200"/>
  <label id="end"/>
</scenario>
"""


# ---------------------------------------------------------------- processes


@dataclass
class Sipp:
    """One SIPp process. ``remote``: where it sends (client scenarios); local address ``ip``."""

    folder: Path
    scenario: str
    ip: str = "127.0.0.2"
    remote: str | None = None
    port: int = 0
    media_port: int = 0
    calls: int = 1
    rate: float = 1.0
    limit: int = 0                # concurrent calls (0: SIPp's default)
    extra: tuple[str, ...] = ()
    timeout_s: int = 120
    name: str = "sipp"
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port(self.ip)
        self.media_port = self.media_port or free_even_port(self.ip)
        self.xml = self.folder / f"{self.name}.xml"
        self.xml.write_text(self.scenario, encoding="iso-8859-1")
        self.msg_log = self.folder / f"{self.name}-messages.log"
        self.err_log = self.folder / f"{self.name}-errors.log"
        self.out_log = self.folder / f"{self.name}-out.log"
        self.stat_file = self.folder / f"{self.name}-stat.csv"

    def argv(self) -> list[str]:
        if SIPP is None:
            raise RuntimeError("sipp is not installed (Debian sip-tester)")
        argv = [SIPP] + ([self.remote] if self.remote else []) + [
            "-sf", str(self.xml), "-i", self.ip, "-p", str(self.port), "-mi", self.ip, "-mp", str(self.media_port),
            "-m", str(self.calls), "-r", str(self.rate), "-nostdin", "-trace_msg", "-message_file",
            str(self.msg_log), "-trace_err", "-error_file", str(self.err_log), "-timeout", f"{self.timeout_s}s",
            "-timeout_error", "-trace_stat", "-stf", str(self.stat_file), "-fd", "1", "-max_socket", "4096"]
        if self.limit:
            argv += ["-l", str(self.limit)]
        return argv + list(self.extra)

    def start(self) -> Sipp:
        self._out = open(self.out_log, "wb")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self._out, stderr=subprocess.STDOUT,
                                     cwd=self.folder, start_new_session=True)
        return self

    def wait(self, timeout: float | None = None) -> int:
        assert self.proc
        try:
            return self.proc.wait(timeout if timeout is not None else self.timeout_s + 10)
        finally:
            with contextlib.suppress(Exception):
                self._out.close()

    def alive(self) -> bool:
        return bool(self.proc and self.proc.poll() is None)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGUSR1)       # SIPp: quit softly (calls end)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(Exception):
            self._out.close()

    def messages(self) -> str:
        return self.msg_log.read_text(errors="replace") if self.msg_log.exists() else ""

    def _blocks(self) -> list[tuple[str, str]]:
        """(direction "sent"/"received", message) for each SIP message in the log."""
        out = []
        for block in re.split(r"^-{20,} .*$", self.messages(), flags=re.M)[1:]:
            lines = block.strip("\n").split("\n")
            if not lines:
                continue
            kind = "received" if "received" in lines[0] else "sent"
            out.append((kind, "\n".join(lines[1:]).strip("\n")))
        return out

    def received(self, start: str) -> list[str]:
        """The SIP messages SIPp received whose first line starts with ``start`` (e.g. "SIP/2.0 401")."""
        return [m for k, m in self._blocks() if k == "received" and m.startswith(start)]

    def sent(self, start: str) -> list[str]:
        return [m for k, m in self._blocks() if k == "sent" and m.startswith(start)]

    def log_tail(self, n: int = 3000) -> str:
        parts = []
        for p in (self.out_log, self.err_log):
            if p.exists():
                parts.append(f"== {p.name}\n" + p.read_text(errors="replace")[-n:])
        return "\n".join(parts)

    def __enter__(self) -> Sipp:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def stat_last(path: Path) -> dict[str, str]:
    """The last row of a SIPp -trace_stat CSV as a dict."""
    lines = [ln for ln in Path(path).read_text(errors="replace").splitlines() if ln.strip()]
    if len(lines) < 2:
        return {}
    head = lines[0].rstrip(";").split(";")
    row = lines[-1].rstrip(";").split(";")
    return dict(zip(head, row))


@dataclass
class Baresip:
    """baresip as a seat phone: registers to the hotline's PJSIP with the seat's credentials, answers by
    itself and plays ``wav``; ``hangup()`` ends its call (ctrl_tcp)."""

    folder: Path
    username: str
    secret: str
    registrar_port: int
    wav: Path
    ip: str = "127.0.0.1"
    proc: subprocess.Popen | None = None

    def start(self) -> Baresip:
        if BARESIP is None:
            raise RuntimeError("baresip is not installed")
        self.folder.mkdir(parents=True, exist_ok=True)
        # baresip listens on UDP and TCP on its port; a port picked free may be taken before it binds
        # (by another test run's connections): then it stops at once, and another port is tried
        for _ in range(5):
            self._launch()
            if not self._bind_failed():
                return self
            self.stop()
        raise RuntimeError(f"baresip could not bind a SIP port: {self.folder / 'baresip.log'}")

    def _bind_failed(self, wait_s: float = 1.5) -> bool:
        deadline = time.monotonic() + wait_s
        log = self.folder / "baresip.log"
        while time.monotonic() < deadline:
            text = log.read_bytes() if log.exists() else b""
            if b"Address already in use" in text or b"init failed" in text:
                return True
            if self.proc is not None and self.proc.poll() is not None:
                return True
            time.sleep(0.1)
        return False

    def _launch(self) -> None:
        assert BARESIP is not None
        self.sip_port = free_udp_tcp_port(self.ip)
        self.ctrl_port = free_port(self.ip, socket.SOCK_STREAM)
        (self.folder / "config").write_text(baresip_config(self.ip, self.sip_port, self.ctrl_port, self.wav))
        (self.folder / "accounts").write_text(
            f"<sip:{self.username}@127.0.0.1:{self.registrar_port}>;auth_pass={self.secret};answermode=auto;"
            f"regint=60\n")
        self._log = open(self.folder / "baresip.log", "wb")
        self.proc = subprocess.Popen([BARESIP, "-f", str(self.folder)], stdin=subprocess.PIPE, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def command(self, command: str, params: str = "") -> None:
        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        with socket.create_connection((self.ip, self.ctrl_port), timeout=3) as s:
            s.sendall(str(len(body)).encode() + b":" + body + b",")
            with contextlib.suppress(socket.timeout):
                s.recv(1000)

    def hangup(self) -> None:
        self.command("hangup")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        with contextlib.suppress(Exception):
            self._log.close()

    def __enter__(self) -> Baresip:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_until(pred, timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(every)
    return pred()


def register_contacts(accounts: dict[str, tuple[str, str]] | list[tuple[str, str, str]], *, local: tuple[str, int],
                      registrar: tuple[str, int], expires: int = 3600, timeout: float = 5.0) -> int:
    """REGISTER each (aor user, auth username, secret) from one UDP socket at ``local`` (digest auth,
    MD5): the registrar keeps ``local`` as each account's contact, where a SIPp UAS then answers.
    Returns how many were accepted (200). Blocking; loopback only."""
    import hashlib
    import uuid

    items = [(k, v[0], v[1]) for k, v in accounts.items()] if isinstance(accounts, dict) else list(accounts)
    ok = 0
    rhost, rport = registrar
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(local)
        sock.settimeout(timeout)
        for user, auth_user, secret in items:
            call_id, tag = uuid.uuid4().hex, uuid.uuid4().hex[:8]
            uri = f"sip:{rhost}:{rport}"

            def request(cseq: int, auth: str = "", uri: str = uri, user: str = user, tag: str = tag,
                        call_id: str = call_id) -> str:
                return (f"REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/UDP {local[0]}:{local[1]};rport;branch=z9hG4bK"
                        f"{uuid.uuid4().hex[:16]}\r\nFrom: <sip:{user}@{rhost}>;tag={tag}\r\n"
                        f"To: <sip:{user}@{rhost}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
                        f"Contact: <sip:{user}@{local[0]}:{local[1]}>\r\n{auth}Expires: {expires}\r\n"
                        f"Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n")

            def exchange(msg: str, call_id: str = call_id) -> str:
                sock.sendto(msg.encode(), registrar)
                while True:
                    data = sock.recv(65535).decode(errors="replace")
                    if call_id in data and not data.startswith("SIP/2.0 100"):
                        return data
            try:
                reply = exchange(request(1))
                if reply.startswith("SIP/2.0 401"):
                    m = re.search(r'^WWW-Authenticate:\s*Digest\s+(.*)$', reply, re.M | re.I)
                    params = dict(re.findall(r'(\w+)="?([^",]*)"?', m.group(1))) if m else {}
                    realm, nonce = params.get("realm", ""), params.get("nonce", "")
                    ha1 = hashlib.md5(f"{auth_user}:{realm}:{secret}".encode()).hexdigest()
                    ha2 = hashlib.md5(f"REGISTER:{uri}".encode()).hexdigest()
                    qop = "auth" if "auth" in params.get("qop", "") else ""
                    if qop:
                        cnonce, nc = uuid.uuid4().hex[:8], "00000001"
                        resp = hashlib.md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}".encode()).hexdigest()
                        extra = f', qop=auth, nc={nc}, cnonce="{cnonce}"'
                    else:
                        resp = hashlib.md5(f"{ha1}:{nonce}:{ha2}".encode()).hexdigest()
                        extra = ""
                    opaque = f', opaque="{params["opaque"]}"' if "opaque" in params else ""
                    auth = (f'Authorization: Digest username="{auth_user}", realm="{realm}", nonce="{nonce}", '
                            f'uri="{uri}", response="{resp}", algorithm=MD5{opaque}{extra}\r\n')
                    reply = exchange(request(2, auth))
                if reply.startswith("SIP/2.0 200"):
                    ok += 1
            except (TimeoutError, OSError):
                continue
    return ok
