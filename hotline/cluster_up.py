"""`hotline up --nodes N`: Kamailio at the SIP edge and N nodes (Asterisk + controller) on this machine,
sharing one Redis (with ``--sentinel``: a master, a replica and three sentinels from devstack) and one PostgreSQL;
one web app (on the first node). Each node is a Runtime
(hotline/app.py compose) with its own node id, its own loopback address for SIP (127.0.0.11, .12, ...)
and its own AGI/AMI ports; Kamailio listens on 127.0.0.10 and is the seats' registrar, so a caller on
any node can be answered at any seat. Stopped in reverse: the nodes, then Kamailio.
"""
from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from devstack.procs import free_ports
from dialplan.kamailio import Edge, load_edge
from hotline.runtime import Runtime
from hotline.settings import Settings

log = logging.getLogger("hotline.cluster")
EDGE_IP = "127.0.0.10"
FIRST_NODE_IP = "127.0.0.11"
MAX_NODES = 8


def node_address(i: int) -> str:
    return str(ipaddress.ip_address(FIRST_NODE_IP) + i)


def cluster_edge(settings: Settings, n: int) -> Edge:
    """The edge of a one-machine cluster: Kamailio on EDGE_IP, node i on FIRST_NODE_IP + i (free UDP
    ports), Kamailio the seats' registrar; the site's other edge settings (probing, pike) kept."""
    if not 1 <= n <= MAX_NODES:
        raise ValueError(f"--nodes: 1 to {MAX_NODES}")
    base = settings.edge
    data: dict[str, Any] = {"listen": EDGE_IP, "port": free_ports(1, EDGE_IP)[0], "children": 1,
                            "registrar": {"realm": base.registrar.realm if base and base.registrar else "hotline"},
                            "nodes": {f"node{i + 1}": {"address": node_address(i),
                                                       "port": free_ports(1, node_address(i))[0]}
                                      for i in range(n)}}
    if base is not None:
        data.update(probe_interval_s=base.probe_interval_s, invite_timeout_ms=base.invite_timeout_ms,
                    mask_ip=base.mask_ip,
                    pike={"window_s": base.pike.window_s, "requests": base.pike.requests, "ban_s": base.pike.ban_s})
    return load_edge(data, settings.trunks)


def node_settings(settings: Settings, edge: Edge, i: int, n: int, *, redis_url: str = "",
                  database_url: str = "") -> Settings:
    """Node i's settings: its id, SIP address and port, its share of the RTP ports, free AGI/AMI ports;
    a further node (i > 0) uses the first node's Redis and PostgreSQL."""
    s = settings
    node = edge.nodes[i]
    start, end = s.network.sip.rtp_start, s.network.sip.rtp_end
    share = max((end - start) // n // 2 * 2, 2)
    rtp = f"{start + i * share}-{start + (i + 1) * share - 2}"
    network = dataclasses.replace(s.network, sip_bind=node.address, sip_port=node.port, ami_port=0, fastagi_port=0,
                                  rtp_ports=rtp, web_port=s.network.web_port if i == 0 else 0,
                                  redis_port=s.network.redis_port if i == 0 else 0)
    out = dataclasses.replace(s, network=network, edge=edge, routing=dataclasses.replace(s.routing, node=node.name))
    if i > 0:
        out = dataclasses.replace(out, database=dataclasses.replace(s.database, url=database_url))
        if redis_url:                  # the first node's private Redis (with sentinels: the same sentinels)
            out = dataclasses.replace(out, redis=dataclasses.replace(s.redis, url=redis_url, sentinels=[]))
    return out


def _shared_database(rt: Runtime, s: Settings) -> str:
    """The URL further nodes reach the first node's PostgreSQL by: its private server's admin role over
    its local socket (schema upgrades need it; the socket's local trust ignores the password, which is
    there because Asterisk's CDR settings refuse a URL without one), or the site's own url."""
    if rt.records is None:
        return "none"
    server = rt.records.server
    if server is None:
        return s.database.url
    from devstack.pg_server import CDR_ROLE, SUPERUSER

    return (f"postgresql://{SUPERUSER}:{quote(server.password(CDR_ROLE), safe='')}@/{server.cdr_dsn_parts['dbname']}"
            f"?host={quote(str(server.socket_dir), safe='/')}&port={server.port}")


@dataclass
class Cluster:
    settings: Settings
    run: Path
    n: int
    demo_seats: int = 0
    demo_wrap_up_s: float | None = None
    sentinel: bool = False                     # Redis Sentinel (devstack SentinelGroup) under the nodes
    edge: Edge | None = None
    sentinels: Any = None                      # devstack.redis_sentinel.SentinelGroup
    kamailio: Any = None                       # devstack.kamailio_server.KamailioServer
    nodes: list[Runtime] = field(default_factory=list)

    async def start(self) -> None:
        from agents.config import load_seats
        from agents.secrets import seat_credentials
        from devstack.kamailio_server import KamailioServer
        from hotline.app import compose
        from hotline.features.base import data_dir

        s = self.settings
        if self.sentinel:
            from devstack.redis_sentinel import SentinelGroup

            self.sentinels = SentinelGroup(self.run / "redis")
            await asyncio.to_thread(self.sentinels.start)
            s = dataclasses.replace(s, redis=dataclasses.replace(s.redis, **self.sentinels.settings))
        self.edge = edge = cluster_edge(s, self.n)
        creds = seat_credentials(load_seats(s.path(s.agents.seats)), data_dir(s))
        self.kamailio = KamailioServer(self.run / "kamailio", edge, tuple(s.trunks), seats=creds)
        await asyncio.to_thread(self.kamailio.start)
        redis_url = database_url = ""
        for i in range(self.n):
            ns = node_settings(s, edge, i, self.n, redis_url=redis_url, database_url=database_url)
            folder = self.run / edge.nodes[i].name
            folder.mkdir()
            rt = compose(ns, folder, demo_seats=self.demo_seats if i == 0 else 0, demo_wrap_up_s=self.demo_wrap_up_s,
                         persistent_redis=i == 0)
            rt.edge_ctl = self.kamailio.ctl
            rt.serve_web = i == 0
            self.nodes.append(rt)
            await rt.start()
            if i == 0:
                redis_url = "" if s.redis.sentinels else rt.redis_url
                database_url = _shared_database(rt, ns)

    def ready_info(self) -> dict[str, Any]:
        assert self.edge and self.kamailio
        first = self.nodes[0].ready_info()
        return {"run": str(self.run), "web": first["web"], "redis": first["redis"],
                "sentinel": {"pids": [p.pid for p in self.sentinels.data + self.sentinels.sentinels]}
                if self.sentinels is not None else None,
                "edge": {"sip": f"{self.edge.listen}:{self.edge.port}", "pid": self.kamailio.process.pid
                         if self.kamailio.process else None, "ctl": str(self.kamailio.ctl)},
                "nodes": [{"node": rt.node, "sip": f"{rt.settings.network.sip_bind}:{rt.asterisk.ports.sip}"
                           if rt.asterisk else None, **{k: v for k, v in rt.ready_info().items()
                                                        if k in ("run", "ports", "pids", "asterisk_conf")}}
                          for rt in self.nodes]}

    def write_ready(self, info: dict[str, Any]) -> None:
        self.nodes[0].write_ready(info)

    async def stop(self) -> None:
        for rt in reversed(self.nodes):
            try:
                await rt.stop()
            except Exception:
                log.exception("stopping node %s failed", rt.node)
        if self.kamailio is not None:
            await asyncio.to_thread(self.kamailio.stop)
        if self.sentinels is not None:
            await asyncio.to_thread(self.sentinels.stop)
