"""SIPp (Debian's sip-tester) as the far end of calls out: a carrier trunk's
stand-in that answers with real RTP (SIPp's g711a.pcap), or refuses with a SIP
status (503, 486). Every SIP message it sees is logged (``-trace_msg``), so a
test asserts what the carrier received: the request URI, From and
P-Asserted-Identity of each INVITE.

    with StandIn(tmp_path, "127.0.0.3", answer_s=4) as far:
        ...                          # place the call out
        invite = far.wait_invite()
        assert invite.user("From") == "12345"
"""
from __future__ import annotations

import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from devstack.sipp import baresip_config, free_udp_tcp_port

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
PCAP = "/usr/share/sip-tester/g711a.pcap"

_ANSWER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="stand-in answers">
  <recv request="INVITE" crlf="true" rrs="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
[last_Record-Route:]
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
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
o=standin 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=sendrecv

]]></send>
  <recv request="ACK" crlf="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="peer"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="me"/>
    </action>
  </recv>
  <nop><action><exec play_pcap_audio="{pcap}"/></action></nop>
  <recv request="BYE" timeout="{hold_ms}" ontimeout="hangup"/>
  <send next="done"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <label id="hangup"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$me]
To:[$peer]
[last_Call-ID:]
CSeq: 2 BYE
Contact: <sip:[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Content-Length: 0

]]></send>
  <recv response="200" crlf="true"/>
  <label id="done"/>
</scenario>
"""

_REFUSE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="stand-in refuses">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 {code} {reason}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <recv request="ACK" crlf="true"/>
</scenario>
"""


@dataclass
class SipMessage:
    first_line: str
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        short = {"from": "f", "to": "t", "contact": "m", "via": "v", "call-id": "i"}.get(name.lower())
        for k, v in self.headers:
            if k.lower() == name.lower() or (short and k.lower() == short):
                return v
        return None

    def user(self, name: str) -> str | None:
        """The user part of the URI in a From/To/P-Asserted-Identity header."""
        v = self.header(name)
        m = re.search(r"sips?:([^@;>]+)@", v or "")
        return m.group(1) if m else None

    def display(self, name: str) -> str:
        v = self.header(name) or ""
        m = re.match(r'\s*"([^"]*)"', v)
        return m.group(1) if m else v.split("<")[0].strip()

    @property
    def request_user(self) -> str | None:
        m = re.match(r"\w+ sips?:([^@;> ]+)@", self.first_line)
        return m.group(1) if m else None


def parse_trace(raw: str) -> list[SipMessage]:
    """SIPp's -trace_msg file -> the messages it received."""
    out = []
    for block in re.split(r"\n-{10,}[^\n]*\n", "\n" + raw):
        m = re.match(r"\s*\w+ message received \[\d+\] bytes :\s*\n\n?(.*)", block, flags=re.S)
        if not m:
            continue
        text = m.group(1).replace("\r\n", "\n")
        head, _, body = text.partition("\n\n")
        lines = head.strip("\n").split("\n")
        headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:]) if k]
        out.append(SipMessage(lines[0].strip(), headers, body))
    return out


class StandIn:
    """One SIPp UAS on ``ip:port`` answering (``refuse=None``) or refusing every INVITE."""

    def __init__(self, folder: Path, ip: str, port: int = 5070, *, refuse: int | None = None,
                 answer_s: float = 3.0, media_port: int | None = None) -> None:
        self.folder = Path(folder)
        self.ip, self.port = ip, port
        self.refuse = refuse
        self.answer_s = answer_s
        self.media_port = media_port or (16000 + (sum(map(int, ip.split("."))) % 50) * 20)
        tag = f"{ip.replace('.', '_')}_{port}"
        self.scenario = self.folder / f"standin_{tag}.xml"
        self.trace = self.folder / f"standin_{tag}_messages.log"
        self.log = self.folder / f"standin_{tag}.out"
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        if self.refuse is None:
            xml = _ANSWER.replace("{pcap}", PCAP).replace("{hold_ms}", str(int(self.answer_s * 1000)))
        else:
            reason = {503: "Service Unavailable", 486: "Busy Here", 404: "Not Found"}.get(self.refuse, "Refused")
            xml = _REFUSE.replace("{code}", str(self.refuse)).replace("{reason}", reason)
        self.scenario.write_text(xml, encoding="ascii")
        args = [SIPP, "-sf", str(self.scenario), "-i", self.ip, "-p", str(self.port), "-mi", self.ip,
                "-mp", str(self.media_port), "-trace_msg", "-message_file", str(self.trace),
                "-nostdin", "-timeout", "300", "-max_recv_loops", "100", "-aa"]
        self.proc = subprocess.Popen(args, stdout=open(self.log, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=self.folder)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:                 # listening once it wrote its message file
            if self.proc.poll() is not None:
                raise RuntimeError(f"sipp exited: {self.log.read_text(errors='replace')[-2000:]}")
            if self.trace.exists():
                return
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)         # SIPp: quit at once
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def messages(self) -> list[SipMessage]:
        try:
            return parse_trace(self.trace.read_text(encoding="utf-8", errors="replace"))
        except FileNotFoundError:
            return []

    def invites(self) -> list[SipMessage]:
        return [m for m in self.messages() if m.first_line.startswith("INVITE ")]

    def wait_for(self, pred, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = pred(self.messages())
            if got:
                return got
            time.sleep(0.1)
        raise AssertionError(f"{self.ip}:{self.port}: no {what} within {timeout} s; got "
                             f"{[m.first_line for m in self.messages()]}")

    def wait_invite(self, timeout: float = 15.0) -> SipMessage:
        return self.wait_for(lambda ms: next((m for m in ms if m.first_line.startswith("INVITE ")), None),
                             timeout, "INVITE")


class SeatPhone:
    """baresip registered as a seat (PJSIP endpoint), driven over ctrl_tcp: dial, hang up."""

    def __init__(self, folder: Path, *, username: str, secret: str, asterisk_sip_port: int, tone: Path,
                 tls_ca: Path | None = None, srtp: bool = False) -> None:
        from devstack.procs import free_port

        self.folder = Path(folder)
        self.username, self.secret = username, secret
        self.sip = asterisk_sip_port
        self.tone = tone
        self.tls_ca, self.srtp = tls_ca, srtp       # register over TLS (trusting that CA), SRTP mandatory
        self.sip_port = free_udp_tcp_port()          # baresip binds UDP and TCP on it
        self.ctrl_port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> SeatPhone:
        self.folder.mkdir(parents=True, exist_ok=True)
        extra = (f"sip_cafile {self.tls_ca}\n" if self.tls_ca else "") + ("module srtp.so\n" if self.srtp else "")
        (self.folder / "config").write_text(baresip_config("127.0.0.1", self.sip_port, self.ctrl_port, self.tone, extra))
        transport = ";transport=tls" if self.tls_ca else ""
        media = ";mediaenc=srtp-mand" if self.srtp else ""
        (self.folder / "accounts").write_text(
            f"<sip:{self.username}@127.0.0.1:{self.sip}{transport}>;auth_pass={self.secret};answermode=auto;"
            f"regint=60{media}\n")
        self.log = open(self.folder / "baresip.log", "wb")
        self.proc = subprocess.Popen([shutil.which("baresip") or "baresip", "-f", str(self.folder)],
                                     stdin=subprocess.PIPE, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()

    async def command(self, command: str, params: str = "") -> str:
        import asyncio
        import contextlib
        import json

        reader, writer = await asyncio.open_connection("127.0.0.1", self.ctrl_port)
        body = json.dumps({"command": command, "params": params, "token": "e2e"}).encode()
        writer.write(str(len(body)).encode() + b":" + body + b",")
        await writer.drain()
        got = b""
        with contextlib.suppress(asyncio.TimeoutError):
            got = await asyncio.wait_for(reader.read(2000), 2)
        writer.close()
        return got.decode(errors="replace")

    async def dial(self, user: str) -> str:
        return await self.command("dial", f"sip:{user}@127.0.0.1:{self.sip}")

    async def hangup(self) -> str:
        return await self.command("hangup")
