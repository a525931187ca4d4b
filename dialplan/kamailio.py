"""Kamailio at the SIP edge, in front of several Asterisk nodes (issue 16): the edge settings as validated
values, and kamailio.cfg + dispatcher.list + the permissions address file as text (pure: data in,
problems or text out; no I/O).

Settings shape (the ``edge:`` mapping; the carriers come from the same ``trunks:`` as dialplan/trunks.py)::

    edge:
      listen: 127.0.0.1            # Kamailio's SIP address: the one the carriers send to
      port: 5060                   # its UDP port
      nodes:                       # the Asterisk nodes calls are spread over
        node1: {address: 10.0.0.11, port: 5060}
        node2: {address: 10.0.0.12, port: 5060, drained: true}   # no new calls (running calls finish)
      probe_interval_s: 2          # OPTIONS to every node this often; a silent node gets no new calls
      invite_timeout_ms: 1500      # no reply at all from a node this long: the call goes to the next node
      pike: {window_s: 2, requests: 16, ban_s: 300}   # per unknown source address; over it: ignored ban_s
      mask_ip: 127.0.0.8           # the address topology hiding puts in the carrier's view (not routed)
      children: 4                  # Kamailio's UDP worker processes
      registrar:                   # optional: Kamailio is the seat phones' registrar
        realm: hotline
        max_expires_s: 3600
        location: redis://:PASSWORD@10.0.0.5:6379/5   # where the seats' location lives (default: memory)

What Kamailio does with it:
- a request from an address no trunk lists (``trunks.*.inbound_from``) and no node is rate-limited with
  ``pike`` (a source over the limit is ignored for ``ban_s``, in an ``htable``) and an INVITE from it is
  refused with 403;
- a carrier's INVITE is record-routed and sent to a node chosen round-robin by ``dispatcher`` among the
  active ones; a 5xx or no reply within ``invite_timeout_ms`` tries the next node (``failure_route``), the
  silent node is marked inactive and probed; OPTIONS every ``probe_interval_s`` bring it back;
- the carrier sees no node address (``topoh``; messages towards the nodes are left as they are);
- with ``registrar``: a seat phone registers here (digest checked against HA1s computed from the seats'
  secrets, so no secret is in the config; it registers its own username only), and an INVITE from a node
  to a seat is sent wherever that seat registered (``lookup``);
- the seats' location (usrloc) is in memory (``location: memory``, the default: a Kamailio restart forgets
  every registration until the phones register again) or in Redis through ``db_redis``
  (``location: redis://[:PASSWORD@]HOST:PORT/DB``): write-through (``db_mode`` 1), lookups from memory,
  every save, refresh and expiry written to Redis at once and the whole table loaded at start, so a
  restarted Kamailio still rings every seat that was registered. db_redis reads its table layout from the
  schema files Debian's ``kamailio-redis-modules`` installs (``EdgeFiles.redis_schema``) and usrloc checks
  the table's version row (``location_version_row``) at start;
- a node is drained with ``dispatcher.set_state d 1 sip:ADDR:PORT`` over the ctl socket (``kamcmd``), or
  ``drained: true`` in the settings: no new calls go to it; in-dialog requests follow the Record-Route,
  so its running calls finish.

Every value is parsed (addresses with ipaddress, ports as ints, names by regex) before it reaches the
config; bad settings are refused with every problem listed (``EdgeSettingsError``).
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dialplan.trunks import Trunk
from kernel.errors import HotlineError
from pbx.contract import SEAT_OUT

NODE_NAME = re.compile(r"[a-z][a-z0-9_-]{0,30}")
MASK_KEY = re.compile(r"[A-Za-z0-9_-]{16,128}")
_PATH = re.compile(r"/[A-Za-z0-9._/+-]{1,400}")
EDGE_KEYS = frozenset({"listen", "port", "nodes", "probe_interval_s", "invite_timeout_ms", "pike", "mask_ip",
                       "children", "registrar"})
REGISTRAR_KEYS = frozenset({"realm", "max_expires_s", "location"})
# redis://[:PASSWORD@]HOST:PORT/DB: the password's characters are those Kamailio's db URL parser and
# kamailio.cfg's string take as they are (no '@', ':', '/', '"', '%'); DB is a Redis database number.
LOCATION_URL = re.compile(r"redis://(?::(?P<password>[A-Za-z0-9._~-]{1,256})@)?(?P<host>[A-Za-z0-9.-]{1,253}|"
                          r"\[[0-9A-Fa-f:.]{2,45}\]):(?P<port>[0-9]{1,5})/(?P<db>[0-9]{1,2})")
HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}"
                      r"[A-Za-z0-9])?)*")
LOCATION_TABLE = "location"
REDIS_SCHEMA = "/usr/share/kamailio/db_redis/kamailio"   # installed by Debian's kamailio-redis-modules
REALM = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")
SEAT_USER = re.compile(r"[A-Za-z0-9._+-]{1,64}")
NODE_KEYS = frozenset({"address", "port", "drained"})
PIKE_KEYS = frozenset({"window_s", "requests", "ban_s"})

NODES_SET = 1              # the dispatcher set of the Asterisk nodes
GROUP_CARRIER = 1          # permissions address groups
GROUP_NODE = 2
FLAG_DISABLED = 4          # dispatcher.list flags: admin disabled (drained)
FLAG_PROBING = 8           # sending keepalives
ALG_ROUND_ROBIN = 4


class EdgeSettingsError(HotlineError, ValueError):
    """The edge settings cannot be used: every problem, one a line."""

    error_id = "edge_settings"

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("edge settings refused:\n  " + "\n  ".join(self.problems))


@dataclass(frozen=True)
class Node:
    name: str
    address: str           # an IP address (normalised by ipaddress)
    port: int
    drained: bool = False

    @property
    def uri(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        return f"sip:{host}:{self.port}"


@dataclass(frozen=True)
class Pike:
    window_s: int = 2
    requests: int = 16
    ban_s: int = 300


@dataclass(frozen=True)
class LocationStore:
    """The seats' location in Redis (db_redis): host, port, database number and password (a secret: not in
    repr; the rendered kamailio.cfg holding it is written 0600)."""

    host: str
    port: int
    db: int
    password: str = field(default="", repr=False)

    @property
    def db_url(self) -> str:
        """What usrloc's db_url is set to (the password inside)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db}"


@dataclass(frozen=True)
class Registrar:
    """Kamailio as the registrar for seat phones (digest auth against the seats' secrets, as HA1)."""

    realm: str = "hotline"
    max_expires_s: int = 3600
    location: LocationStore | None = None      # None: in memory (a restart forgets the registrations)


@dataclass(frozen=True)
class Edge:
    listen: str = "127.0.0.1"
    port: int = 5060
    nodes: tuple[Node, ...] = ()
    probe_interval_s: int = 2
    invite_timeout_ms: int = 1500
    pike: Pike = field(default_factory=Pike)
    mask_ip: str = "127.0.0.8"
    children: int = 4
    registrar: Registrar | None = None     # None: no REGISTER taken, no call from a node to a seat

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


@dataclass(frozen=True)
class EdgeFiles:
    """Where Kamailio finds its files and sockets (absolute paths in its run folder)."""

    dispatcher_list: str
    address_list: str
    ctl_socket: str
    jsonrpc_fifo: str
    modules: str = "/usr/lib/x86_64-linux-gnu/kamailio/modules"
    redis_schema: str = REDIS_SCHEMA        # db_redis's table schemas (the package's files, not copied)


@dataclass(frozen=True)
class EdgeConfig:
    kamailio_cfg: str
    dispatcher_list: str
    address_list: str


# ---------------------------------------------------------------- parsing


def _ip(value: Any, where: str, problems: list[str]) -> str | None:
    try:
        if not isinstance(value, str) or any(c in value for c in "\r\n\"\x00"):
            raise ValueError
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        problems.append(f"{where}: {value!r} is not an IP address")
        return None


def _int(value: Any, where: str, lo: int, hi: int, problems: list[str]) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        problems.append(f"{where}: expected a whole number {lo}..{hi}, got {value!r}")
        return None
    return value


def _bool(value: Any, where: str, problems: list[str]) -> bool:
    if not isinstance(value, bool):
        problems.append(f"{where}: expected true or false, got {value!r}")
        return False
    return value


def _unknown(data: Mapping[Any, Any], keys: frozenset[str], where: str, problems: list[str]) -> None:
    for extra in sorted(set(map(str, data)) - keys):
        problems.append(f"{where}.{extra}: unknown setting")


def _nodes(data: Any, problems: list[str]) -> tuple[Node, ...]:
    if not isinstance(data, Mapping) or not data:
        problems.append("edge.nodes: expected a mapping of node name -> {address, port}, at least one node")
        return ()
    out: list[Node] = []
    seen: dict[tuple[str, int], str] = {}
    for name, item in data.items():
        where = f"edge.nodes.{name}"
        start = len(problems)
        if not isinstance(name, str) or not NODE_NAME.fullmatch(name):
            problems.append(f"{where}: a node name is a lower-case letter then letters, digits, '-' or '_' "
                            f"(at most 31)")
        if not isinstance(item, Mapping):
            problems.append(f"{where}: expected a mapping with address and port")
            continue
        _unknown(item, NODE_KEYS, where, problems)
        address = _ip(item.get("address"), f"{where}.address", problems)
        port = _int(item.get("port", 5060), f"{where}.port", 1, 65535, problems)
        drained = _bool(item.get("drained", False), f"{where}.drained", problems)
        if address is not None and port is not None:
            if (address, port) in seen:
                problems.append(f"{where}: {address}:{port} is already node {seen[(address, port)]}")
            seen[(address, port)] = str(name)
        if len(problems) == start and address is not None and port is not None and isinstance(name, str):
            out.append(Node(name=name, address=address, port=port, drained=drained))
    if out and all(n.drained for n in out):
        problems.append("edge.nodes: every node is drained (no node would take calls)")
    return tuple(out)


def _pike(data: Any, problems: list[str]) -> Pike:
    if data in (None, ""):
        return Pike()
    if not isinstance(data, Mapping):
        problems.append("edge.pike: expected a mapping with window_s, requests, ban_s")
        return Pike()
    _unknown(data, PIKE_KEYS, "edge.pike", problems)
    window = _int(data.get("window_s", 2), "edge.pike.window_s", 1, 60, problems)
    requests = _int(data.get("requests", 16), "edge.pike.requests", 1, 100000, problems)
    ban = _int(data.get("ban_s", 300), "edge.pike.ban_s", 1, 86400, problems)
    return Pike(window_s=window or 2, requests=requests or 16, ban_s=ban or 300)


def _registrar(data: Any, problems: list[str]) -> Registrar | None:
    if data in (None, False, ""):
        return None
    if data is True:
        return Registrar()
    if not isinstance(data, Mapping):
        problems.append("edge.registrar: expected true or a mapping with realm, max_expires_s")
        return None
    _unknown(data, REGISTRAR_KEYS, "edge.registrar", problems)
    realm = data.get("realm", "hotline")
    if not isinstance(realm, str) or not REALM.fullmatch(realm):
        problems.append(f"edge.registrar.realm: lower-case letters, digits, '.', '-' (at most 63), got {realm!r}")
        realm = "hotline"
    expires = _int(data.get("max_expires_s", 3600), "edge.registrar.max_expires_s", 60, 86400, problems)
    location = _location(data.get("location", "memory"), problems)
    return Registrar(realm=realm, max_expires_s=expires or 3600, location=location)


def _redacted(value: str) -> str:
    """A location URL as an error message may show it: the password masked."""
    return re.sub(r"//.*@", "//***@", value, flags=re.S)


def _location(value: Any, problems: list[str]) -> LocationStore | None:
    """``memory`` (or nothing): usrloc in memory; ``redis://[:PASSWORD@]HOST:PORT/DB``: in that Redis."""
    if value in (None, "", "memory"):
        return None
    where = "edge.registrar.location"
    if not isinstance(value, str):
        problems.append(f"{where}: expected memory or redis://[:PASSWORD@]HOST:PORT/DB, got {type(value).__name__}")
        return None
    m = LOCATION_URL.fullmatch(value.strip())
    if m is None:
        problems.append(f"{where}: expected memory or redis://[:PASSWORD@]HOST:PORT/DB (the password letters, "
                        f"digits, '.', '_', '~', '-'), got {_redacted(value)!r}")
        return None
    host = m.group("host")
    start = len(problems)
    if host.startswith("["):
        ip = _ip(host[1:-1], f"{where} host", problems)
        host = f"[{ip}]" if ip is not None and ":" in ip else host
    elif re.fullmatch(r"[0-9.]+", host):
        _ip(host, f"{where} host", problems)
    elif not HOSTNAME.fullmatch(host):
        problems.append(f"{where}: {host!r} is not a host name or IP address")
    port = _int(int(m.group("port")), f"{where} port", 1, 65535, problems)
    db = _int(int(m.group("db")), f"{where} database", 0, 15, problems)
    if len(problems) > start or port is None or db is None:
        return None
    return LocationStore(host=host, port=port, db=db, password=m.group("password") or "")


def location_version_row(schema: str) -> tuple[str, dict[str, str]]:
    """The row usrloc checks at start (table ``version``) for the location table, as db_redis stores it:
    (key, hash fields). ``schema``: the text of db_redis's schema file for the location table (its second
    line is the table's version)."""
    lines = [line.strip() for line in schema.splitlines() if line.strip()]
    if len(lines) < 2 or not lines[1].isdigit() or "ruid/" not in lines[0]:
        raise ValueError("not db_redis's schema of the location table")
    return f"version:entry::{LOCATION_TABLE}", {"table_name": LOCATION_TABLE, "table_version": lines[1]}


def seat_ha1(seats: Mapping[str, tuple[str, str]], realm: str) -> tuple[tuple[str, str], ...]:
    """(username, HA1) per seat: what the registrar checks digests against (no secret in the config).
    seats: id -> (username, secret), as dialplan/seats.py takes them."""
    problems: list[str] = []
    out: dict[str, str] = {}
    for seat_id, (user, secret) in sorted(seats.items()):
        if not SEAT_USER.fullmatch(user):
            problems.append(f"seat {seat_id}: username {user!r} is not letters, digits, '.', '_', '+', '-'")
        elif not secret or any(c in secret for c in "\r\n\x00"):
            problems.append(f"seat {seat_id}: no usable secret")
        elif user in out:
            problems.append(f"seat {seat_id}: username {user} is another seat's")
        else:
            out[user] = hashlib.md5(f"{user}:{realm}:{secret}".encode()).hexdigest()
    if problems:
        raise EdgeSettingsError(problems)
    return tuple(out.items())


def parse_edge(data: Any, trunks: tuple[Trunk, ...] | list[Trunk], problems: list[str]) -> Edge | None:
    """The ``edge:`` settings checked against the (already parsed) trunks; None when any problem was found."""
    start = len(problems)
    if not isinstance(data, Mapping):
        problems.append("edge: expected a mapping (listen, port, nodes, ...)")
        return None
    _unknown(data, EDGE_KEYS, "edge", problems)
    listen = _ip(data.get("listen", "127.0.0.1"), "edge.listen", problems)
    port = _int(data.get("port", 5060), "edge.port", 1, 65535, problems)
    nodes = _nodes(data.get("nodes"), problems)
    probe = _int(data.get("probe_interval_s", 2), "edge.probe_interval_s", 1, 300, problems)
    timeout = _int(data.get("invite_timeout_ms", 1500), "edge.invite_timeout_ms", 200, 60000, problems)
    pike = _pike(data.get("pike"), problems)
    mask_ip = _ip(data.get("mask_ip", "127.0.0.8"), "edge.mask_ip", problems)
    children = _int(data.get("children", 4), "edge.children", 1, 64, problems)
    registrar = _registrar(data.get("registrar"), problems)
    if listen is not None and port is not None:
        for n in nodes:
            if (n.address, n.port) == (listen, port):
                problems.append(f"edge.nodes.{n.name}: {listen}:{port} is Kamailio's own address")
    if mask_ip is not None:
        if mask_ip == listen or any(n.address == mask_ip for n in nodes):
            problems.append(f"edge.mask_ip: {mask_ip} is in use (Kamailio or a node); pick an unused address")
        for t in trunks:
            if any(ipaddress.ip_address(mask_ip) in ipaddress.ip_network(net) for net in t.inbound_from):
                problems.append(f"edge.mask_ip: {mask_ip} is inside trunk {t.name}'s inbound_from")
    if not any(t.inbound_from for t in trunks):
        problems.append("trunks: no trunk has inbound_from (Kamailio would let no carrier in)")
    for t in trunks:
        for net in t.inbound_from:
            for n in nodes:
                if ipaddress.ip_address(n.address) in ipaddress.ip_network(net):
                    problems.append(f"edge.nodes.{n.name}: {n.address} is inside trunk {t.name}'s inbound_from")
    if len(problems) > start or listen is None or port is None or mask_ip is None:
        return None
    return Edge(listen=listen, port=port, nodes=nodes, probe_interval_s=probe or 2,
                invite_timeout_ms=timeout or 1500, pike=pike, mask_ip=mask_ip, children=children or 4,
                registrar=registrar)


def load_edge(data: Any, trunks: tuple[Trunk, ...] | list[Trunk]) -> Edge:
    """parse_edge, refusing bad settings with every problem listed."""
    problems: list[str] = []
    edge = parse_edge(data, trunks, problems)
    if edge is None or problems:
        raise EdgeSettingsError(problems or ["edge: unusable"])
    return edge


# ---------------------------------------------------------------- rendering


def render_dispatcher(edge: Edge) -> str:
    """dispatcher.list: set 1 = the nodes, each probed (8), a drained one admin-disabled (4)."""
    lines = ["# Generated by hotline from the edge settings: do not edit.",
             "# setid destination flags priority attributes"]
    for n in edge.nodes:
        flags = FLAG_PROBING | (FLAG_DISABLED if n.drained else 0)
        lines.append(f"{NODES_SET} {n.uri} {flags} 0 duid={n.name}")
    return _check_lines("\n".join(lines) + "\n")


def render_addresses(edge: Edge, trunks: tuple[Trunk, ...] | list[Trunk]) -> str:
    """The permissions address file: group 1 the carriers' networks (tag: the trunk), group 2 the nodes."""
    lines = ["# Generated by hotline from the trunks and edge settings: do not edit.",
             "# group address netmask port tag"]
    for t in trunks:
        for net in t.inbound_from:
            n = ipaddress.ip_network(net)
            lines.append(f"{GROUP_CARRIER} {n.network_address} {n.prefixlen} 0 {t.name}")
    for node in edge.nodes:
        bits = 128 if ":" in node.address else 32
        lines.append(f"{GROUP_NODE} {node.address} {bits} 0 {node.name}")
    return _check_lines("\n".join(lines) + "\n")


def _check_lines(text: str) -> str:
    for line in text.splitlines():
        if any(c in line for c in ('"', "\r", "\x00", "\\")):
            raise ValueError(f"refusing to render {line!r}")
    return text


def _path(value: str) -> str:
    if not _PATH.fullmatch(value) or ".." in value.split("/"):
        raise ValueError(f"refusing the path {value!r} in kamailio.cfg")
    return value


def render_cfg(edge: Edge, files: EdgeFiles, mask_key: str,
               seats: Mapping[str, tuple[str, str]] | None = None) -> str:
    """kamailio.cfg for this edge (the secret mask_key inside: write it 0600). ``seats`` (id -> (username,
    secret)): the seat phones that may register when the edge is their registrar."""
    if not MASK_KEY.fullmatch(mask_key):
        raise ValueError("mask_key: 16-128 letters, digits, '-' or '_'")
    if edge.registrar is not None and not seats:
        raise EdgeSettingsError(["edge.registrar: no seat with a username and secret to register"])
    listen = f"[{edge.listen}]" if ":" in edge.listen else edge.listen
    p = edge.pike
    values = {
        "listen": f"udp:{listen}:{edge.port}",
        "children": str(edge.children),
        "mpath": _path(files.modules),
        "dispatcher_list": _path(files.dispatcher_list),
        "address_list": _path(files.address_list),
        "ctl": "unix:" + _path(files.ctl_socket),
        "fifo": _path(files.jsonrpc_fifo),
        "probe_s": str(edge.probe_interval_s),
        "fr_ms": str(edge.invite_timeout_ms),
        "pike_window": str(p.window_s),
        "pike_requests": str(p.requests),
        "pike_latency": str(max(p.window_s * 2, 4)),
        "ban_s": str(p.ban_s),
        "mask_ip": edge.mask_ip,
        "mask_key": mask_key,
        "nodes_set": str(NODES_SET),
        "alg": str(ALG_ROUND_ROBIN),
        "carrier": str(GROUP_CARRIER),
        "node": str(GROUP_NODE),
    }
    for k, v in values.items():
        if any(c in v for c in ('"', "\n", "\r", "\x00", "\\", " ")):
            raise ValueError(f"refusing the value of {k} in kamailio.cfg: {v!r}")
    text = _CFG
    for k, v in values.items():
        text = text.replace("{{" + k + "}}", v)
    for k, v in _registrar_blocks(edge, seats or {}, mask_key, files).items():
        text = text.replace("{{" + k + "}}", v)
    if "{{" in text:
        raise ValueError("kamailio.cfg template: a placeholder was left unfilled")
    return text


def _registrar_blocks(edge: Edge, seats: Mapping[str, tuple[str, str]], mask_key: str,
                      files: EdgeFiles) -> dict[str, str]:
    """The registrar's pieces of kamailio.cfg ("" each when the edge is not the seats' registrar)."""
    reg = edge.registrar
    if reg is None:
        return {"registrar_modules": "", "registrar_dispatch": "", "registrar_routes": ""}
    nonce = hashlib.sha256(f"nonce:{mask_key}".encode()).hexdigest()[:32]
    if reg.location is None:
        store = _LOCATION_MEMORY
    else:
        url = reg.location.db_url
        if any(c in url for c in ('"', "\n", "\r", "\x00", "\\", " ")):
            raise ValueError("refusing the location URL in kamailio.cfg")
        store = _LOCATION_REDIS.replace("{{schema}}", _path(files.redis_schema)).replace("{{db_url}}", url)
    cases = "".join(f'\t\tcase "{user}":\n\t\t\t$var(ha1) = "{ha1}";\n\t\t\tbreak;\n'
                    for user, ha1 in seat_ha1(seats, reg.realm))
    modules = (_REGISTRAR_MODULES.replace("{{location}}", store).replace("{{max_expires}}", str(reg.max_expires_s))
               .replace("{{nonce}}", nonce))
    routes = _REGISTRAR_ROUTES.replace("{{realm}}", reg.realm).replace("{{cases}}", cases)
    return {"registrar_modules": modules, "registrar_dispatch": _REGISTRAR_DISPATCH.replace("{{node}}",
                                                                                          str(GROUP_NODE)),
            "registrar_routes": routes}


def render_edge(edge: Edge, trunks: tuple[Trunk, ...] | list[Trunk], files: EdgeFiles, mask_key: str,
                seats: Mapping[str, tuple[str, str]] | None = None) -> EdgeConfig:
    return EdgeConfig(kamailio_cfg=render_cfg(edge, files, mask_key, seats), dispatcher_list=render_dispatcher(edge),
                      address_list=render_addresses(edge, trunks))


EDGE_TRUNK = "edge"        # a node's PJSIP endpoint for what Kamailio sends it (the carriers' calls)


def node_trunk(edge: Edge, trunks: tuple[Trunk, ...] | list[Trunk]) -> Trunk:
    """The trunk a node takes the carriers' calls by when they come through Kamailio: identified by
    Kamailio's address, with the first carrier trunk's area code, codecs and DTMF; never used for calls
    out (those go to the carriers directly, through their own trunks)."""
    carriers = [t for t in trunks if t.inbound_from]
    first = carriers[0] if carriers else Trunk(name=EDGE_TRUNK)
    bits = 128 if ":" in edge.listen else 32
    return Trunk(name=EDGE_TRUNK, inbound_from=(f"{edge.listen}/{bits}",), area_code=first.area_code,
                 codecs=first.codecs, dtmf_mode=first.dtmf_mode, rtp_timeout_s=first.rtp_timeout_s,
                 outbound_order=0)


def render_node_seats(edge: Edge, seats: Mapping[str, tuple[str, str]], *, codecs: str = "alaw,ulaw") -> str:
    """pjsip_seats.conf of a node when Kamailio is the seats' registrar: each seat's endpoint has one
    fixed contact, the seat's username at Kamailio, so ``PJSIP/<seat id>`` (pbx.contract.seat_interface)
    rings the seat wherever it registered, from any node. No auth and no registration here: the phone
    registers at Kamailio (its state, 离线 or not, comes from Kamailio's location). ``seats``: id ->
    (username, secret), as for dialplan/seats.py."""
    if edge.registrar is None:
        raise EdgeSettingsError(["edge.registrar: off, the seats register at each node's Asterisk"])
    host = f"[{edge.listen}]" if ":" in edge.listen else edge.listen
    users = dict(seat_ha1(seats, edge.registrar.realm))        # the same username checks as the registrar
    out = ["; Generated by hotline: the seats register at Kamailio (edge.registrar); this node rings them "
           "through it. Do not edit.\n"]
    for seat_id, (user, _secret) in sorted(seats.items()):
        if user not in users or not re.fullmatch(r"[A-Za-z0-9_-]{1,40}", seat_id):
            raise ValueError(f"seat {seat_id}: not a name pjsip.conf can hold")
        out.append(f"""[{seat_id}]
type = endpoint
context = {SEAT_OUT}
disallow = all
allow = {codecs}
aors = {seat_id}
callerid = "{seat_id}" <{seat_id}>
direct_media = no
rtp_symmetric = yes
send_pai = yes
device_state_busy_at = 1

[{seat_id}]
type = aor
contact = sip:{user}@{host}:{edge.port}
max_contacts = 1
qualify_frequency = 0
""")
    return "\n".join(out)


def drain_command(node: Node, drained: bool = True) -> list[str]:
    """The RPC (kamcmd arguments after the socket) that drains a node, or puts it back in service."""
    return ["dispatcher.set_state", "d" if drained else "ap", str(NODES_SET), node.uri]


_CFG = r"""#!KAMAILIO
# Generated by hotline from the trunks and edge settings (dialplan/kamailio.py): do not edit.
# The SIP edge: carriers in, calls spread over the Asterisk nodes.

debug=2
log_stderror=yes
fork=yes
children={{children}}
listen={{listen}}
auto_aliases=no
disable_tcp=yes
dns=no
rev_dns=no
server_header="Server: hotline-edge"
user_agent_header="User-Agent: hotline-edge"
sip_warning=0

mpath="{{mpath}}"

loadmodule "jsonrpcs.so"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "ctl.so"
loadmodule "permissions.so"
loadmodule "pike.so"
loadmodule "htable.so"
loadmodule "dispatcher.so"
loadmodule "topoh.so"
{{registrar_modules}}
modparam("ctl", "binrpc", "{{ctl}}")
modparam("jsonrpcs", "transport", 2)
modparam("jsonrpcs", "fifo_name", "{{fifo}}")

# No reply at all from a node within fr_timer: the branch times out and failure_route tries the next node.
modparam("tm", "fr_timer", {{fr_ms}})
modparam("tm", "fr_inv_timer", 120000)
modparam("tm", "auto_inv_100", 1)

modparam("rr", "enable_full_lr", 0)
modparam("rr", "append_fromtag", 1)

# Carriers (group {{carrier}}) and nodes (group {{node}}) by source address.
modparam("permissions", "address_file", "{{address_list}}")
modparam("permissions", "load_backends", 1)
modparam("permissions", "peer_tag_avp", "$avp(peer_tag)")

# Unknown sources: at most pike_requests per window, then ignored for ban_s.
modparam("pike", "sampling_time_unit", {{pike_window}})
modparam("pike", "reqs_density_per_unit", {{pike_requests}})
modparam("pike", "remove_latency", {{pike_latency}})
modparam("htable", "htable", "ban=>size=10;autoexpire={{ban_s}};")

# The nodes: OPTIONS to all of them every probe interval (mode 1), 2xx, 404 or 405 count as alive (never 408: that is the local timeout).
modparam("dispatcher", "list_file", "{{dispatcher_list}}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_ping_interval", {{probe_s}})
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_reply_codes", "class=2;code=404;code=405")
modparam("dispatcher", "ds_ping_from", "sip:edge@hotline.invalid")

modparam("topoh", "mask_key", "{{mask_key}}")
modparam("topoh", "mask_ip", "{{mask_ip}}")
modparam("topoh", "mask_callid", 0)

request_route {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (!sanity_check("17895", "7")) {
		exit;
	}
	$var(group) = allow_source_address_group();
	if ($var(group) != {{carrier}} && $var(group) != {{node}}) {
		route(LIMIT);
	}
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	if (!is_method("ACK")) {
		if (t_precheck_trans()) {
			t_check_trans();
			exit;
		}
		t_check_trans();
	}
	if (has_totag()) {
		route(WITHINDLG);
		exit;
	}
	if (is_method("OPTIONS") && uri==myself && $rU==$null) {
		sl_send_reply("200", "Keepalive");
		exit;
	}
{{registrar_dispatch}}	if ($var(group) != {{carrier}}) {
		xlog("L_NOTICE", "edge: refused $rm from $si:$sp (not a carrier)\n");
		sl_send_reply("403", "Forbidden");
		exit;
	}
	if (!is_method("INVITE")) {
		sl_send_reply("405", "Method Not Allowed");
		exit;
	}
	remove_hf("Route");
	record_route();
	if (!ds_select_dst("{{nodes_set}}", "{{alg}}")) {
		xlog("L_ERR", "edge: no node available for $ci\n");
		sl_send_reply("503", "Service Unavailable");
		exit;
	}
	xlog("L_INFO", "edge: call $ci from $avp(peer_tag) to $du\n");
	t_on_failure("NEXT_NODE");
	route(RELAY);
}

route[LIMIT] {
	if ($sht(ban=>$si) != $null) {
		exit;
	}
	if (!pike_check_req()) {
		xlog("L_WARN", "edge: pike: $si over the limit, ignored\n");
		$sht(ban=>$si) = 1;
		exit;
	}
}

route[WITHINDLG] {
	if (loose_route()) {
		if (is_method("INVITE")) {
			record_route();
		}
		route(RELAY);
		exit;
	}
	if (is_method("ACK")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	sl_send_reply("404", "Not here");
	exit;
}

route[RELAY] {
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

# A node answered 5xx or nothing at all: the next active node (a silent one is marked inactive and probed).
failure_route[NEXT_NODE] {
	if (t_is_canceled()) {
		exit;
	}
	if (t_branch_timeout() && !t_branch_replied()) {
		xlog("L_WARN", "edge: node $du did not answer $ci, marked inactive\n");
		ds_mark_dst("ip");
	} else if (!t_check_status("5[0-9][0-9]")) {
		exit;
	}
	if (ds_next_dst()) {
		xlog("L_NOTICE", "edge: $ci goes to the next node $du\n");
		t_on_failure("NEXT_NODE");
		route(RELAY);
	}
}

{{registrar_routes}}# Topology hiding towards the carriers only: messages sent to a node are left as they are.
event_route[topoh:msg-outgoing] {
	if (allow_address_group("$sndto(ip)", "$sndto(port)") == {{node}}) {
		drop;
	}
}
"""

_LOCATION_MEMORY = r"""loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"

# Seat phones register here; their location is in memory only (a restart forgets it).
modparam("usrloc", "db_mode", 0)
"""

_LOCATION_REDIS = r"""loadmodule "db_redis.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"

# Seat phones register here; their location is written through to Redis (every save, refresh and expiry
# at once) and loaded from it at start, so a restart keeps every registration. Table layouts: the
# schema files of Debian's kamailio-redis-modules; a contact is location:entry::<ruid>, indexed by AoR.
modparam("db_redis", "schema_path", "{{schema}}")
modparam("db_redis", "keys", "version=entry:table_name")
modparam("db_redis", "keys", "location=entry:ruid&usrdom:username,domain&timer:partition,keepalive")
modparam("db_redis", "verbosity", 0)
modparam("usrloc", "db_url", "{{db_url}}")
modparam("usrloc", "db_mode", 1)
modparam("usrloc", "db_ops_ruid", 1)
"""

_REGISTRAR_MODULES = r"""{{location}}modparam("registrar", "max_expires", {{max_expires}})
modparam("registrar", "default_expires", {{max_expires}})
modparam("auth", "secret", "{{nonce}}")
"""

_REGISTRAR_DISPATCH = r"""	if (is_method("REGISTER")) {
		route(REGISTRAR);
		exit;
	}
	if ($var(group) == {{node}} && is_method("INVITE")) {
		route(TO_SEAT);
		exit;
	}
"""

_REGISTRAR_ROUTES = r"""# A seat phone registers: digest against its HA1; it registers its own username only.
route[REGISTRAR] {
	route(SEAT_HA1);
	if (!pv_www_authenticate("{{realm}}", "$var(ha1)", "1")) {
		www_challenge("{{realm}}", "0");
		exit;
	}
	if ($au != $tU) {
		sl_send_reply("403", "Forbidden");
		exit;
	}
	consume_credentials();
	if (!save("location")) {
		sl_reply_error();
	}
	exit;
}

route[SEAT_HA1] {
	$var(ha1) = "none";
	switch ($au) {
{{cases}}	}
}

# A node rings a seat: wherever the seat registered.
route[TO_SEAT] {
	remove_hf("Route");
	record_route();
	if (!lookup("location")) {
		sl_send_reply("480", "Temporarily Unavailable");
		exit;
	}
	xlog("L_INFO", "edge: node $si rings seat $rU at $ru\n");
	route(RELAY);
}

"""
