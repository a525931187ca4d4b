"""Configuration in layers, merged in one place into a typed, frozen object.

Order (later wins): config/hotline.yaml (built-in defaults) -> the file given
with --config and the *.yaml files of its conf.d/ folder -> environment
variables HOTLINE__SECTION__KEY=value -> command-line overrides.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, is_dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from dialplan.kamailio import Edge, parse_edge
from dialplan.trunks import Network, parse_network, parse_trunks
from kernel.errors import HotlineError
from kernel.redis import RedisUrlError, sentinel_url

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = REPO / "config" / "hotline.yaml"
ENV_PREFIX = "HOTLINE__"


class SettingsError(HotlineError, ValueError):
    error_id = "settings.invalid"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid settings:\n" + "\n".join(f"  {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class HotlineSection:
    name: str
    timezone: str
    run_root: str


@dataclass(frozen=True)
class NetworkSection:
    host: str
    fastagi_port: int
    ami_port: int
    sip_port: int
    web_port: int
    redis_port: int
    sip_bind: str               # SIP listens here (default 127.0.0.1)
    rtp_ports: str              # FIRST-LAST, default 10000-20000
    external_address: str       # NAT: public address for signalling and media ("" = none)
    local_nets: list            # CIDRs reached without NAT

    @cached_property
    def sip(self) -> Network:
        """The SIP part, parsed and whitelisted (validated at load: cannot fail here)."""
        return parse_network(self.__dict__, "network", [])


@dataclass(frozen=True)
class RedisSection:
    """One Redis (`url`), or a Sentinel-managed master (`sentinels` + `master`): kernel/redis.py."""
    url: str                 # redis://[:password@]host:port/db ("" and no sentinels: a private redis-server)
    sentinels: list          # ["host:port", ...] of the sentinels (three in a deployment); [] = no Sentinel
    master: str              # the master's name the sentinels watch (their `sentinel monitor NAME ...`)
    password: str            # the data servers' requirepass, with sentinels (with url: in the url)
    sentinel_password: str   # the sentinels' own requirepass ("" = they take none)

    @property
    def client_url(self) -> str:
        """What every client connects with (kernel.redis.redis_client): the url, or the
        redis+sentinel:// URL of the sentinels; "" when neither is set."""
        if self.sentinels:
            return sentinel_url(self.sentinels, self.master, password=self.password,
                                sentinel_password=self.sentinel_password)
        return self.url


@dataclass(frozen=True)
class DatabaseSection:
    url: str              # "" = a private PostgreSQL cluster; "none" = no records database (Redis only)
    data_dir: str         # the private cluster's folder ("" = storage.data_dir/postgres)
    spool_max_rows: int   # records waiting for PostgreSQL, at most (records/spool.py)
    recordings_days: int  # call recordings kept this long, then deleted (records/retention.py)
    personal_days: int    # callers' numbers, names and transcripts kept this long, then anonymised


@dataclass(frozen=True)
class StorageSection:
    data_dir: str


@dataclass(frozen=True)
class TransferSection:
    dial: str


@dataclass(frozen=True)
class DiallingSection:
    """The dialling policy of every call out (agents/dialpolicy.py)."""
    area_code: str              # the site's own; local numbers are dialled with it
    allow_prefixes: list        # canonical prefixes allowed although international or premium
    deny_prefixes: list         # canonical prefixes always refused
    premium_prefixes: list      # refused unless in allow_prefixes
    per_number_per_hour: int    # calls out to one number per hour (0: no limit; 110 and the like never)
    per_hour: int               # calls out of the whole hotline per hour (0: no limit)
    caller_id: str              # presented through a trunk that has no caller_id of its own

    @cached_property
    def policy(self):
        from agents.dialpolicy import DialPolicy
        return DialPolicy.from_mapping(self.__dict__)


@dataclass(frozen=True)
class SeatsSipSection:
    """Seat phones' SIP: TLS transport, SRTP, qualify (dialplan/seats.py)."""
    tls: bool                   # SIP over TLS for seat phones (transport-tls)
    tls_port: int               # 0 = a free port (tests); 5061 on a site
    tls_cert: str               # PEM certificate; "" = self-signed, made at first start in data_dir/tls
    tls_key: str                # its private key (kept 0600)
    srtp: str                   # no | optional | required (SDES keys over TLS)
    qualify_s: int              # OPTIONS to each registered phone this often: a dead phone is seen


@dataclass(frozen=True)
class AgentsSection:
    seats: str
    max_wait_s: int


@dataclass(frozen=True)
class RoutingSection:
    node: str             # this controller's id among those sharing the Redis ("" = host name + data folder)
    dead_after_s: float   # a node without a heartbeat this long is gone: its calls are settled by the others


@dataclass(frozen=True)
class IvrSection:
    tree: str
    lists_dir: str


@dataclass(frozen=True)
class FastAGISection:
    header_timeout_s: float
    drain_timeout_s: float
    host: str               # bind address of the FastAGI listener ("" = network.host)
    allowed_peers: str      # comma-separated addresses/networks that may connect (the Asterisk host)


@dataclass(frozen=True)
class FallbackSection:
    queue_timeout_s: int


@dataclass(frozen=True)
class PromptsSection:
    voice: str
    speed: int
    fallback: str
    sorry: str


@dataclass(frozen=True)
class WebSection:
    cookie_secure: bool
    session_idle_s: float
    session_absolute_s: float
    metrics_token: str
    host: str                   # bind address of the web listener ("" = network.host)
    trust_forwarded: bool       # behind a reverse proxy: the client address from X-Forwarded-For
    trusted_proxies: str        # comma-separated addresses of that proxy


@dataclass(frozen=True)
class SttSection:
    model: str
    workers: int
    live: bool          # transcribe the conversation of answered calls as it happens
    live_audio_host: str  # bind address of the live-audio listener ("" = network.host)


@dataclass(frozen=True)
class TicketsSection:
    handoff: str        # the hand-off settings (tickets/handoff_config.py); its url empty: hand-off off


@dataclass(frozen=True)
class RecordingsSection:
    dir: str                # "" = storage.data_dir/recordings
    retention_days: int     # recordings older than this are deleted (0 = kept for ever)
    compress: str           # after the call the mixed recording is compressed by sox: ogg | flac | none


@dataclass(frozen=True)
class AsteriskSection:
    version: int            # 16: the system's Asterisk (Debian bullseye's); 22: Asterisk 22 LTS from `root`
    root: str               # the folder scripts/asterisk22 (scripts/setup --asterisk 22) fills, for version 22
    live_capture: str       # auto | eagi | audiosocket: how live-transcript audio leaves Asterisk
    binds: list             # more folders a rooted Asterisk must see at their own paths (sounds elsewhere, ...)


@dataclass(frozen=True)
class LogSection:
    level: str


@dataclass(frozen=True)
class Settings:
    hotline: HotlineSection
    asterisk: AsteriskSection
    network: NetworkSection
    redis: RedisSection
    database: DatabaseSection
    storage: StorageSection
    transfer: TransferSection
    dialling: DiallingSection
    seats_sip: SeatsSipSection
    agents: AgentsSection
    routing: RoutingSection
    ivr: IvrSection
    fastagi: FastAGISection
    fallback: FallbackSection
    prompts: PromptsSection
    web: WebSection
    stt: SttSection
    tickets: TicketsSection
    recordings: RecordingsSection
    log: LogSection
    # Carrier SIP trunks by name (dialplan/trunks.py has the shape), parsed and whitelisted.
    trunks: tuple = field(default=(), metadata={"parse": parse_trunks})
    # Kamailio at the SIP edge in front of the Asterisk nodes (dialplan/kamailio.py has the shape);
    # None (`edge: null`): no edge. Checked against the trunks by dialplan.kamailio.parse_edge.
    edge: Edge | None = field(default=None, metadata={"edge": True})

    @property
    def recordings_dir(self) -> Path:
        return self.path(self.recordings.dir) if self.recordings.dir else \
            self.path(self.storage.data_dir) / "recordings"

    def path(self, value: str) -> Path:
        """A path from the settings, relative to the repository when not absolute."""
        p = Path(value)
        return p if p.is_absolute() else REPO / p


def _merge(base: dict, over: Mapping) -> dict:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = v
    return out


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError([f"{path}: {exc}"]) from exc
    if not isinstance(data, dict):
        raise SettingsError([f"{path}: top level must be a mapping"])
    return data


def _from_env(env: Mapping[str, str]) -> dict:
    out: dict = {}
    for key, value in env.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = key[len(ENV_PREFIX):].lower().split("__")
        if len(parts) != 2:
            continue
        out.setdefault(parts[0], {})[parts[1]] = yaml.safe_load(value) if value else value
    return out


def _build(cls: type, data: Any, path: str, problems: list[str]) -> Any:
    if not isinstance(data, Mapping):
        problems.append(f"{path}: expected a mapping")
        return None
    hints = get_type_hints(cls)
    kwargs = {}
    names = {f.name for f in fields(cls)}
    for extra in sorted(set(data) - names):
        problems.append(f"{path}.{extra}: unknown setting" if path else f"{extra}: unknown section")
    for f in fields(cls):
        sub = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            problems.append(f"{sub}: missing")
            continue
        typ, value = hints[f.name], data[f.name]
        if "edge" in f.metadata:
            continue                       # after the trunks it is checked against (below)
        if "parse" in f.metadata:
            kwargs[f.name] = f.metadata["parse"](value, problems)
        elif isinstance(typ, type) and is_dataclass(typ):
            kwargs[f.name] = _build(typ, value, sub, problems)
        elif typ is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            kwargs[f.name] = float(value)
        elif typ is str and value is None:
            kwargs[f.name] = ""
        elif isinstance(value, typ) and not (typ is int and isinstance(value, bool)):
            kwargs[f.name] = value
        else:
            problems.append(f"{sub}: expected {typ.__name__}, got {value!r}")
    if cls is NetworkSection:
        parse_network(data, path, problems)
    if cls is SeatsSipSection and data.get("srtp") not in ("no", "optional", "required"):
        problems.append(f"{path}.srtp: expected no, optional or required, got {data.get('srtp')!r}")
    if cls is SeatsSipSection and (data.get("tls_cert") or data.get("tls_key")) and not (
            data.get("tls_cert") and data.get("tls_key")):
        problems.append(f"{path}: tls_cert and tls_key go together")
    if cls is DiallingSection and not problems:
        from agents.dialpolicy import DialPolicy
        try:
            DialPolicy.from_mapping(data)
        except (TypeError, ValueError) as exc:
            problems.append(f"{path}: {exc}")
    if cls is AsteriskSection and data.get("version") not in (16, 22):
        problems.append(f"{path}.version: expected 16 or 22, got {data.get('version')!r}")
    if cls is AsteriskSection and data.get("live_capture") not in ("auto", "eagi", "audiosocket"):
        problems.append(f"{path}.live_capture: expected auto, eagi or audiosocket, got {data.get('live_capture')!r}")
    if cls is RedisSection and not problems:
        _check_redis(data, path, problems)
    if cls is Settings and "edge" in data:
        kwargs["edge"] = _edge(data["edge"], kwargs.get("trunks", ()), problems)
    if cls is RecordingsSection and data.get("compress") not in ("ogg", "flac", "none"):
        problems.append(f"{path}.compress: expected ogg, flac or none, got {data.get('compress')!r}")
    return cls(**kwargs) if not problems else None


def _edge(data: Any, trunks: tuple, problems: list[str]) -> Edge | None:
    """The `edge:` section: null (no edge) or the mapping dialplan.kamailio.parse_edge validates against
    the trunks, every problem listed."""
    if data in (None, False):
        return None
    return parse_edge(data, trunks, problems)


def _check_redis(data: Mapping, path: str, problems: list[str]) -> None:
    if not data["sentinels"]:
        return
    if data["url"]:
        problems.append(f"{path}: url and sentinels: set one of them")
    try:
        sentinel_url(data["sentinels"], data["master"], password=data["password"],
                     sentinel_password=data["sentinel_password"])
    except RedisUrlError as exc:
        problems.append(f"{path}.sentinels: {exc}")


def load(config: Path | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Settings:
    data = _read_yaml(DEFAULTS)
    if config is not None:
        data = _merge(data, _read_yaml(Path(config)))
        confd = Path(config).parent / "conf.d"
        for extra in sorted(confd.glob("*.yaml")) if confd.is_dir() else ():
            data = _merge(data, _read_yaml(extra))
    data = _merge(data, _from_env(os.environ if env is None else env))
    if overrides:
        data = _merge(data, overrides)
    problems: list[str] = []
    settings = _build(Settings, data, "", problems)
    if problems:
        raise SettingsError(problems)
    return settings
