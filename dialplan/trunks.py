"""Carrier SIP trunks and the SIP network settings, as validated values and as
PJSIP config (pure: data in, problems or text out; no I/O).

Settings shape (hotline.yaml / the site file given with --config)::

    network:
      sip_bind: 127.0.0.1        # address SIP listens on
      rtp_ports: 10000-20000     # RTP port range (each call leg takes an even/odd pair)
      external_address: ""       # NAT: the public address put in signalling and SDP
      local_nets: []             # networks reached without NAT (CIDRs)
    trunks:
      carrier:                           # a name: [a-z][a-z0-9_-]*, the PJSIP endpoint's name
        inbound_from: [127.0.0.2/32]     # the carrier's SBCs: INVITEs from them are this trunk's
        outbound: sip:127.0.0.2:5070     # where calls out through this trunk go
        caller_id: "12345"               # the number presented on calls out
        register: {username: u, secret: s, server: "sip:host:port"}   # optional
        codecs: [alaw, ulaw]
        dtmf_mode: rfc4733               # rfc4733 | auto | inband | info
        session_timers: "yes"            # yes | no | always | required
        session_expires_s: 1800
        rtp_timeout_s: 60                # no RTP this long (and no BYE): the call is hung up
        area_code: "0731"                # local numbers without an area code from this trunk
        outbound_order: 1                # calls out try trunks by this, lowest first (ties: as listed); 0: never

Every value is parsed (addresses with ipaddress, names against a whitelist)
before it reaches pjsip.conf; nothing with CR/LF, ';' or '[' gets through.
Calls from addresses no trunk lists (and not from a seat that authenticates)
match no endpoint and PJSIP refuses them before any dialplan runs.
"""
from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pbx import contract as V

TRUNK_CONTEXT = V.ENTRY          # calls from a trunk enter the dialplan where every call from the network does
NAME = re.compile(r"[a-z][a-z0-9_-]{0,30}")
RESERVED = frozenset({"global", "system", "transport-udp", "transport-tcp", "transport-tls", "anonymous",
                      V.SEAT_OUT, V.ENTRY})
CODECS = ("alaw", "ulaw", "g722", "gsm", "g729", "slin")
DTMF_MODES = {"rfc4733": "rfc4733", "auto": "auto", "inband": "inband", "info": "info"}
SESSION_TIMERS = {"yes": "yes", "no": "no", "always": "always", "required": "required"}
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}"
                   r"[A-Za-z0-9])?)*")
_USER = re.compile(r"[A-Za-z0-9._+-]{1,64}")
_SECRET = re.compile(r"[A-Za-z0-9!#$%&()*+,\-./:<=>?@^_`{|}~]{1,128}")
_CALLER_ID = re.compile(r"\+?\d{3,20}")
_AREA = re.compile(r"0\d{2,3}")
_PORTS = re.compile(r"\s*(\d{1,5})\s*-\s*(\d{1,5})\s*")
_FORBIDDEN = ("\r", "\n", ";", "[", "]", "\x00")

TRUNK_KEYS = frozenset({"inbound_from", "outbound", "caller_id", "register", "codecs", "dtmf_mode",
                        "session_timers", "session_expires_s", "rtp_timeout_s", "area_code", "display_name",
                        "max_channels", "outbound_order"})
REGISTER_KEYS = frozenset({"username", "secret", "server", "expiration_s", "retry_s"})


@dataclass(frozen=True)
class SipUri:
    scheme: str        # sip | sips
    host: str          # an IP address (v6 in brackets when rendered) or a host name
    port: int          # 0: the default

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}:{host}" + (f":{self.port}" if self.port else "")

    def with_user(self, user: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}:{user}@{host}" + (f":{self.port}" if self.port else "")


@dataclass(frozen=True)
class Registration:
    username: str
    secret: str
    server: SipUri
    expiration_s: int = 3600
    retry_s: int = 30


@dataclass(frozen=True)
class Trunk:
    name: str
    inbound_from: tuple[str, ...] = ()          # normalised CIDRs
    outbound: SipUri | None = None
    caller_id: str = ""
    display_name: str = ""                      # plain ASCII or none
    register: Registration | None = None
    codecs: tuple[str, ...] = ("alaw", "ulaw")
    dtmf_mode: str = "rfc4733"
    session_timers: str = "yes"
    session_expires_s: int = 1800
    rtp_timeout_s: int = 60
    area_code: str = ""
    max_channels: int = 0                       # 0: no limit
    outbound_order: int = 1                     # calls out try trunks by this (ties: as listed); 0: never

    @property
    def endpoint(self) -> str:
        """The PJSIP endpoint (and aor) name: PJSIP/<number>@<endpoint> dials out through it."""
        return self.name


@dataclass(frozen=True)
class Network:
    sip_bind: str = "127.0.0.1"
    rtp_start: int = 10000
    rtp_end: int = 20000
    external_address: str = ""
    local_nets: tuple[str, ...] = ()


def _clean(value: Any) -> bool:
    return isinstance(value, str) and not any(c in value for c in _FORBIDDEN)


def parse_uri(value: Any, where: str, problems: list[str]) -> SipUri | None:
    """sip:HOST[:PORT] (or sips:); HOST an IP address or a DNS name. Nothing else (no user, no params)."""
    if not isinstance(value, str) or any(c in value for c in "\r\n;\x00") or not value.strip():
        problems.append(f"{where}: expected sip:HOST[:PORT], got {value!r}")
        return None
    text = value.strip()
    m = re.fullmatch(r"(sips?):(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]@;]+))(?::(\d{1,5}))?", text)
    if not m:
        problems.append(f"{where}: expected sip:HOST[:PORT], got {value!r}")
        return None
    scheme, v6, host, port = m.group(1), m.group(2), m.group(3), m.group(4)
    if v6:
        try:
            host = str(ipaddress.IPv6Address(v6))
        except ValueError:
            problems.append(f"{where}: {v6!r} is not an IPv6 address")
            return None
    else:
        try:
            host = str(ipaddress.ip_address(host))
        except ValueError:
            if not _HOST.fullmatch(host) or host.replace(".", "").isdigit():
                problems.append(f"{where}: {host!r} is neither an IP address nor a host name")
                return None
            host = host.lower()
    p = int(port) if port else 0
    if port and not 1 <= p <= 65535:
        problems.append(f"{where}: port {p} out of range")
        return None
    return SipUri(scheme, host, p)


def _cidrs(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if value in (None, ""):
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        problems.append(f"{where}: expected a list of addresses or networks, got {value!r}")
        return ()
    out: list[str] = []
    for i, item in enumerate(value):
        try:
            if not isinstance(item, str) or not _clean(item):
                raise ValueError
            net = ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            problems.append(f"{where}[{i}]: {item!r} is not an IP address or network")
            continue
        if str(net) not in out:
            out.append(str(net))
    return tuple(out)


def _int(value: Any, where: str, lo: int, hi: int, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        problems.append(f"{where}: expected a whole number {lo}..{hi}, got {value!r}")
        return None
    return value


def parse_rtp_ports(value: Any, where: str, problems: list[str]) -> tuple[int, int]:
    m = _PORTS.fullmatch(value) if isinstance(value, str) else None
    if not m:
        problems.append(f"{where}: expected FIRST-LAST (e.g. 10000-20000), got {value!r}")
        return (10000, 20000)
    lo, hi = int(m.group(1)), int(m.group(2))
    if not (1024 <= lo < hi <= 65535) or hi - lo < 10:
        problems.append(f"{where}: {lo}-{hi} is not a usable range (1024..65535, at least 10 ports)")
        return (10000, 20000)
    return lo, hi


def parse_network(data: Mapping[str, Any], where: str, problems: list[str]) -> Network:
    """The SIP part of the network section (the caller checks the keys)."""
    bind = data.get("sip_bind", "127.0.0.1")
    try:
        if not isinstance(bind, str) or not _clean(bind):
            raise ValueError
        bind = str(ipaddress.ip_address(bind.strip()))
    except ValueError:
        problems.append(f"{where}.sip_bind: {bind!r} is not an IP address")
        bind = "127.0.0.1"
    lo, hi = parse_rtp_ports(data.get("rtp_ports", "10000-20000"), f"{where}.rtp_ports", problems)
    ext = data.get("external_address", "") or ""
    if ext:
        try:
            if not isinstance(ext, str) or not _clean(ext):
                raise ValueError
            ext = str(ipaddress.ip_address(ext.strip()))
        except ValueError:
            if isinstance(ext, str) and _HOST.fullmatch(ext.strip()):
                ext = ext.strip().lower()
            else:
                problems.append(f"{where}.external_address: {ext!r} is neither an IP address nor a host name")
                ext = ""
    nets = _cidrs(data.get("local_nets", []), f"{where}.local_nets", problems)
    return Network(sip_bind=bind, rtp_start=lo, rtp_end=hi, external_address=ext, local_nets=nets)


def _choice(value: Any, choices: Mapping[str, str], where: str, problems: list[str], default: str) -> str:
    if isinstance(value, bool):          # YAML turns bare yes/no into booleans
        value = "yes" if value else "no"
    key = value.strip().lower() if isinstance(value, str) else value
    if key not in choices:
        problems.append(f"{where}: expected one of {', '.join(choices)}, got {value!r}")
        return default
    return choices[key]


def parse_trunk(name: Any, data: Any, problems: list[str]) -> Trunk | None:
    where = f"trunks.{name}"
    start = len(problems)
    if not isinstance(name, str) or not NAME.fullmatch(name) or name in RESERVED:
        problems.append(f"{where}: a trunk name is a lower-case letter then letters, digits, '-' or '_' "
                        f"(at most 31), not a reserved name")
    if not isinstance(data, Mapping):
        problems.append(f"{where}: expected a mapping")
        return None
    for extra in sorted(set(map(str, data)) - TRUNK_KEYS):
        problems.append(f"{where}.{extra}: unknown setting")
    inbound = _cidrs(data.get("inbound_from", []), f"{where}.inbound_from", problems)
    outbound = parse_uri(data["outbound"], f"{where}.outbound", problems) if data.get("outbound") else None
    caller_id: Any = data.get("caller_id", "") or ""
    if isinstance(caller_id, int) and not isinstance(caller_id, bool):
        caller_id = str(caller_id)
    if caller_id and (not isinstance(caller_id, str) or not _CALLER_ID.fullmatch(caller_id.strip())):
        problems.append(f"{where}.caller_id: expected digits (optionally +), got {caller_id!r}")
        caller_id = ""
    display = data.get("display_name", "") or ""
    if display and (not isinstance(display, str) or not re.fullmatch(r"[A-Za-z0-9 ._-]{1,40}", display)):
        problems.append(f"{where}.display_name: plain ASCII letters, digits, space, '.', '_', '-' only")
        display = ""
    reg = None
    if data.get("register"):
        reg = _registration(data["register"], outbound, f"{where}.register", problems)
    codecs_raw = data.get("codecs", ["alaw", "ulaw"])
    codecs: list[str] = []
    if isinstance(codecs_raw, str):
        codecs_raw = [c for c in re.split(r"[,\s]+", codecs_raw) if c]
    if not isinstance(codecs_raw, list) or not codecs_raw:
        problems.append(f"{where}.codecs: expected a list of codecs ({', '.join(CODECS)})")
    else:
        for c in codecs_raw:
            key = c.strip().lower() if isinstance(c, str) else c
            key = {"pcma": "alaw", "pcmu": "ulaw", "g711a": "alaw", "g711u": "ulaw"}.get(key, key)
            if key not in CODECS:
                problems.append(f"{where}.codecs: {c!r} is not one of {', '.join(CODECS)}")
            elif key not in codecs:
                codecs.append(key)
    dtmf = _choice(data.get("dtmf_mode", "rfc4733"), DTMF_MODES, f"{where}.dtmf_mode", problems, "rfc4733")
    timers = _choice(data.get("session_timers", "yes"), SESSION_TIMERS, f"{where}.session_timers", problems,
                     "yes")
    expires = _int(data.get("session_expires_s", 1800), f"{where}.session_expires_s", 90, 86400, problems)
    rtp_timeout = _int(data.get("rtp_timeout_s", 60), f"{where}.rtp_timeout_s", 0, 3600, problems)
    max_channels = _int(data.get("max_channels", 0), f"{where}.max_channels", 0, 100000, problems)
    outbound_order = _int(data.get("outbound_order", 1), f"{where}.outbound_order", 0, 99, problems)
    area: Any = data.get("area_code", "") or ""
    if isinstance(area, int) and not isinstance(area, bool):
        area = "0" + str(area)
    if area and (not isinstance(area, str) or not _AREA.fullmatch(area)):
        problems.append(f"{where}.area_code: expected 0 and 2-3 digits (e.g. 0731), got {area!r}")
        area = ""
    if not inbound and outbound is None and reg is None:
        problems.append(f"{where}: needs inbound_from, outbound or register (it would do nothing)")
    if len(problems) > start:
        return None
    return Trunk(name=name, inbound_from=inbound, outbound=outbound, caller_id=caller_id.strip(),
                 display_name=display, register=reg, codecs=tuple(codecs), dtmf_mode=dtmf, session_timers=timers,
                 session_expires_s=expires or 1800, rtp_timeout_s=rtp_timeout if rtp_timeout is not None else 60,
                 area_code=area, max_channels=max_channels or 0,
                 outbound_order=outbound_order if outbound_order is not None else 1)


def _registration(data: Any, outbound: SipUri | None, where: str, problems: list[str]) -> Registration | None:
    if not isinstance(data, Mapping):
        problems.append(f"{where}: expected a mapping with username and secret")
        return None
    for extra in sorted(set(map(str, data)) - REGISTER_KEYS):
        problems.append(f"{where}.{extra}: unknown setting")
    user, secret = data.get("username"), data.get("secret")
    if isinstance(user, int) and not isinstance(user, bool):
        user = str(user)
    if isinstance(secret, int) and not isinstance(secret, bool):
        secret = str(secret)
    ok = True
    if not isinstance(user, str) or not _USER.fullmatch(user):
        problems.append(f"{where}.username: letters, digits, '.', '_', '+', '-' only (1-64)")
        ok = False
    if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
        problems.append(f"{where}.secret: 1-128 printable ASCII characters, no space, quote, backslash, ';', "
                        f"'[' or ']'")
        ok = False
    server = parse_uri(data["server"], f"{where}.server", problems) if data.get("server") else outbound
    if server is None:
        if not data.get("server"):
            problems.append(f"{where}.server: needed when the trunk has no outbound")
        ok = False
    exp = _int(data.get("expiration_s", 3600), f"{where}.expiration_s", 60, 86400, problems)
    retry = _int(data.get("retry_s", 30), f"{where}.retry_s", 5, 3600, problems)
    if not ok or exp is None or retry is None or server is None or not isinstance(user, str) \
            or not isinstance(secret, str):
        return None
    return Registration(username=user, secret=secret, server=server, expiration_s=exp, retry_s=retry)


def parse_trunks(data: Any, problems: list[str]) -> tuple[Trunk, ...]:
    if data in (None, ""):
        return ()
    if not isinstance(data, Mapping):
        problems.append("trunks: expected a mapping of trunk name -> settings")
        return ()
    out = []
    seen_nets: dict[str, str] = {}
    for name in data:
        t = parse_trunk(name, data[name], problems)
        if t is None:
            continue
        for net in t.inbound_from:
            if net in seen_nets:
                problems.append(f"trunks.{name}.inbound_from: {net} is already trunk {seen_nets[net]}'s")
            seen_nets[net] = t.name
        out.append(t)
    return tuple(out)


# ---------------------------------------------------------------- rendering


def _check(text: str) -> str:
    """Last line of defence: every rendered value was parsed already; a value that still carries a
    character pjsip.conf would read as syntax is a bug, not something to write."""
    for line in text.splitlines():
        if "=" in line:
            value = line.split("=", 1)[1].strip()
            if any(c in value for c in (";", "\r", "\x00")) or value.startswith("["):
                raise ValueError(f"refusing to render {line!r}")
    return text


def transport_options(net: Network) -> str:
    """Lines for the UDP transport section (NAT)."""
    lines = []
    if net.external_address:
        lines += [f"external_media_address = {net.external_address}",
                  f"external_signaling_address = {net.external_address}"]
    for n in net.local_nets:
        lines.append(f"local_net = {n}")
    return _check("\n".join(lines))


def render_trunks(trunks: tuple[Trunk, ...] | list[Trunk]) -> str:
    """pjsip_trunks.conf: endpoint, aor, identify and (when asked) auth + registration per trunk."""
    out = ["; Generated by hotline from the trunks settings: do not edit.\n"]
    for t in trunks:
        ep = [f"[{t.endpoint}]", "type = endpoint", f"context = {TRUNK_CONTEXT}", "disallow = all",
              f"allow = {','.join(t.codecs)}", f"dtmf_mode = {t.dtmf_mode}", f"aors = {t.endpoint}",
              "direct_media = no", "rtp_symmetric = yes", "force_rport = yes", "rewrite_contact = no",
              "trust_id_inbound = yes", "send_pai = yes", "send_rpid = no", "trust_id_outbound = no",
              f"timers = {t.session_timers}", f"timers_sess_expires = {t.session_expires_s}",
              "inband_progress = no", "allow_subscribe = no", "allow_transfer = no",
              # the carrier is not told who answered (no re-INVITE with a seat's id as connected line)
              "send_connected_line = no", "trust_connected_line = no"]
        ep.append(f"set_var = {V.TRUNK}={t.name}")
        if t.area_code:
            ep.append(f"set_var = {V.AREA}={t.area_code}")
        if t.rtp_timeout_s:
            ep += [f"rtp_timeout = {t.rtp_timeout_s}", f"rtp_timeout_hold = {max(t.rtp_timeout_s * 5, 300)}"]
        if t.caller_id:
            ep.append(f"from_user = {t.caller_id.lstrip('+')}")
        if t.register:
            ep.append(f"outbound_auth = {t.endpoint}-auth")
            if t.outbound is None:
                ep.append(f"from_domain = {t.register.server.host}")
        if t.max_channels:
            ep.append(f"device_state_busy_at = {t.max_channels}")
        out.append("\n".join(ep) + "\n")
        aor = [f"[{t.endpoint}]", "type = aor"]
        target = t.outbound or (t.register.server if t.register else None)
        if target is not None:
            aor.append(f"contact = {target}")
        aor += ["qualify_frequency = 0"]
        out.append("\n".join(aor) + "\n")
        if t.inbound_from:
            ident = [f"[{t.endpoint}-identify]", "type = identify", f"endpoint = {t.endpoint}"]
            ident += [f"match = {n}" for n in t.inbound_from]
            out.append("\n".join(ident) + "\n")
        if t.register:
            r = t.register
            out.append("\n".join([
                f"[{t.endpoint}-auth]", "type = auth", "auth_type = userpass", f"username = {r.username}",
                f"password = {r.secret}"]) + "\n")
            out.append("\n".join([
                f"[{t.endpoint}-reg]", "type = registration", "transport = transport-udp",
                f"outbound_auth = {t.endpoint}-auth", f"server_uri = {r.server}",
                f"client_uri = {r.server.with_user(r.username)}", f"contact_user = {r.username}",
                f"expiration = {r.expiration_s}", f"retry_interval = {r.retry_s}",
                "forbidden_retry_interval = 300", "max_retries = 1000000", "line = yes",
                f"endpoint = {t.endpoint}"]) + "\n")
    return _check("\n".join(out))
