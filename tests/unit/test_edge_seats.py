"""Seats through the edge (edge.registrar): the node's seat endpoints point at Kamailio, the node's trunk
for the carriers' calls is Kamailio's address, and the seats' 离线 comes from Kamailio's location."""
import asyncio

import pytest

from agents.edge_phones import EdgePhones, phone_changes
from agents.service import PBX_IDLE, PBX_UNAVAILABLE
from dialplan.kamailio import EdgeSettingsError, load_edge, node_trunk, render_node_seats
from dialplan.trunks import parse_trunks, render_trunks
from hotline.cluster_up import cluster_edge, node_settings
from hotline.settings import load
from pbx.kamailio_rpc import location_users

SEATS = {"1001": ("seat1", "pw-1"), "1002": ("seat2", "pw-2")}


def _trunks():
    problems: list[str] = []
    trunks = parse_trunks({"carrier": {"inbound_from": ["192.0.2.0/28"], "area_code": "0571"}}, problems)
    assert not problems
    return trunks


def _edge(registrar=True):
    return load_edge({"listen": "10.0.0.10", "port": 5070, "registrar": registrar,
                      "nodes": {"node1": {"address": "10.0.0.11"}, "node2": {"address": "10.0.0.12"}}}, _trunks())


def test_node_seats_ring_through_kamailio():
    text = render_node_seats(_edge(), SEATS)
    assert "contact = sip:seat1@10.0.0.10:5070" in text and "contact = sip:seat2@10.0.0.10:5070" in text
    assert "password" not in text and "pw-1" not in text and "type = auth" not in text
    assert text.count("type = endpoint") == 2 and "aors = 1001" in text


def test_node_seats_refuse_bad_names_and_no_registrar():
    with pytest.raises(EdgeSettingsError):
        render_node_seats(_edge(), {"1001": ("seat 1\r\n", "x")})
    with pytest.raises(EdgeSettingsError):
        render_node_seats(_edge(registrar=False), SEATS)
    with pytest.raises(ValueError):
        render_node_seats(_edge(), {"10]01": ("seat1", "x")})


def test_the_nodes_trunk_is_kamailios_address_never_for_calls_out():
    t = node_trunk(_edge(), _trunks())
    assert t.inbound_from == ("10.0.0.10/32",) and t.area_code == "0571" and t.outbound_order == 0
    text = render_trunks((t,))
    assert "match = 10.0.0.10/32" in text and "HOTLINE_AREA=0571" in text


def test_location_users_from_ul_dump():
    out = ("{\n\tDomains: {\n\t\tDomain: {\n\t\t\tDomain: location\n\t\t\tAoRs: {\n\t\t\t\tAoR: seat1\n"
           "\t\t\t\tAoR: seat2\n\t\t\t}\n\t\t}\n\t}\n}\n")
    assert location_users(out) == {"seat1", "seat2"}
    assert location_users("{\n\tDomains: {\n\t\tDomain: {\n\t\t\tAoRs: {\n\t\t\t}\n\t\t}\n\t}\n}\n") == set()
    assert location_users("error: 500 - command not found") is None


def test_phone_changes():
    users = {"seat1": "1001", "seat2": "1002"}
    first = phone_changes(users, {"seat1"}, {})
    assert first == {"1001": PBX_IDLE, "1002": PBX_UNAVAILABLE}
    # registered and known: nothing; unregistered: applied again (a seat logged in since goes 离线)
    assert phone_changes(users, {"seat1"}, first) == {"1002": PBX_UNAVAILABLE}
    assert phone_changes(users, {"seat2"}, first) == {"1001": PBX_UNAVAILABLE, "1002": PBX_IDLE}


class _Seats:
    def __init__(self):
        self.calls = []

    async def phone_changed(self, seat_id, st):
        self.calls.append((seat_id, st))


def test_edge_phones_apply_changes_and_conclude_nothing_without_an_answer():
    seats = _Seats()
    answers = [{"seat1"}, None, {"seat1", "seat2"}]

    async def registered():
        return answers.pop(0)

    phones = EdgePhones(seats, [("1001", "seat1"), ("1002", "seat2")], registered)

    async def go():
        await phones.step()
        assert await phones.step() == {}
        await phones.step()

    asyncio.run(go())
    assert seats.calls == [("1001", PBX_IDLE), ("1002", PBX_UNAVAILABLE), ("1002", PBX_IDLE)]


def test_cluster_nodes_get_their_own_address_id_ports_and_the_first_nodes_stores(tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text("trunks: {carrier: {inbound_from: [127.0.0.2/32]}}\n", encoding="utf-8")
    s = load(cfg, env={})
    edge = cluster_edge(s, 2)
    assert edge.listen == "127.0.0.10" and [n.address for n in edge.nodes] == ["127.0.0.11", "127.0.0.12"]
    assert edge.registrar is not None
    n1 = node_settings(s, edge, 0, 2)
    n2 = node_settings(s, edge, 1, 2, redis_url="redis://127.0.0.1:7000/0", database_url="postgresql://x@h/db")
    assert (n1.routing.node, n2.routing.node) == ("node1", "node2")
    assert n2.network.sip_bind == "127.0.0.12" and n2.network.sip_port == edge.nodes[1].port
    assert n2.redis.url == "redis://127.0.0.1:7000/0" and n2.database.url == "postgresql://x@h/db"
    r1, r2 = n1.network.sip, n2.network.sip
    assert r1.rtp_end < r2.rtp_start, (r1, r2)
    assert n1.edge is edge and n2.edge is edge


def test_up_refuses_sentinel_without_nodes_and_too_many_nodes(capsys):
    from hotline.cli import main

    assert main(["up", "--sentinel"]) == 2
    assert "--sentinel goes with --nodes" in capsys.readouterr().err
    assert main(["up", "--nodes", "9"]) == 2
    assert "--nodes: 1 to 8" in capsys.readouterr().err
