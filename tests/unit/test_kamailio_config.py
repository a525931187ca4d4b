"""The SIP edge's settings and its Kamailio config (dialplan/kamailio.py): parsing, whitelisting and the
rendered kamailio.cfg, dispatcher.list and permissions address file (pure; no Kamailio here —
tests/e2e/test_kamailio_edge.py runs the rendered config)."""
import hashlib
import re

import pytest

from dialplan.kamailio import (
    EdgeFiles,
    EdgeSettingsError,
    drain_command,
    load_edge,
    parse_edge,
    render_addresses,
    render_cfg,
    render_dispatcher,
    render_edge,
)
from dialplan.trunks import parse_trunks

FILES = EdgeFiles(dispatcher_list="/srv/run/kamailio/etc/dispatcher.list",
                  address_list="/srv/run/kamailio/etc/address.list", ctl_socket="/srv/run/kamailio/ctl/kamailio.ctl",
                  jsonrpc_fifo="/srv/run/kamailio/ctl/kamailio_rpc.fifo")
KEY = "k" * 24


def carriers(data=None):
    problems: list[str] = []
    out = parse_trunks(data or {"carrier": {"inbound_from": ["203.0.113.0/28", "198.51.100.7"]},
                                "backup": {"inbound_from": ["2001:db8::1"]}}, problems)
    assert problems == []
    return out


def settings(**over):
    base = {"listen": "10.0.0.5", "port": 5060,
            "nodes": {"node1": {"address": "10.0.0.11", "port": 5060},
                      "node2": {"address": "10.0.0.12", "port": 5080, "drained": True}}}
    base.update(over)
    return base


def refused(data, trunks=None) -> list[str]:
    with pytest.raises(EdgeSettingsError) as err:
        load_edge(data, carriers() if trunks is None else trunks)
    assert str(err.value).startswith("edge settings refused:")
    for p in err.value.problems:
        assert p in str(err.value)
    return err.value.problems


def test_settings_are_parsed_and_normalised():
    edge = load_edge(settings(listen=" 10.0.0.5 ", nodes={"a-1": {"address": "2001:DB8:0:0::11"}}), carriers())
    assert edge.listen == "10.0.0.5" and edge.port == 5060
    (node,) = edge.nodes
    assert (node.name, node.address, node.port, node.drained) == ("a-1", "2001:db8::11", 5060, False)
    assert node.uri == "sip:[2001:db8::11]:5060"
    assert (edge.probe_interval_s, edge.invite_timeout_ms, edge.pike.requests, edge.mask_ip) == (2, 1500, 16,
                                                                                                 "127.0.0.8")


def test_every_problem_is_listed_at_once():
    problems = refused({"listen": "10.0.0.300", "port": "5060", "colour": "red", "probe_interval_s": 0,
                        "invite_timeout_ms": True, "children": 100, "mask_ip": "not-an-ip",
                        "pike": {"window_s": 2, "requests": -1, "burst": 3},
                        "nodes": {"Node 1": {"address": "10.0.0.11"},
                                  "node2": {"address": "10.0.0.12", "port": 70000, "weight": 3},
                                  "node3": {"address": "10.0.0.13", "drained": "yes"},
                                  "node4": "10.0.0.14"}})
    text = "\n".join(problems)
    for expected in ("edge.listen: '10.0.0.300' is not an IP address", "edge.port: expected a whole number",
                     "edge.colour: unknown setting", "edge.probe_interval_s", "edge.invite_timeout_ms",
                     "edge.children", "edge.mask_ip: 'not-an-ip'", "edge.pike.requests", "edge.pike.burst: unknown",
                     "edge.nodes.Node 1: a node name", "edge.nodes.node2.port", "edge.nodes.node2.weight: unknown",
                     "edge.nodes.node3.drained: expected true or false", "edge.nodes.node4: expected a mapping"):
        assert expected in text, f"{expected!r} not in\n{text}"


@pytest.mark.parametrize("address", ['10.0.0.11";\nexit;#', "10.0.0.11\r\n", "node.example.com", "", None, 5060,
                                     "10.0.0.0/24"])
def test_a_node_address_is_an_ip_address_and_nothing_else(address):
    problems = refused(settings(nodes={"node1": {"address": address}}))
    assert any(p.startswith("edge.nodes.node1.address:") for p in problems), problems


@pytest.mark.parametrize("name", ["node1\n", 'n"1', "n;1", "1node", "n" * 40, "node 1", "Node"])
def test_a_node_name_is_checked_by_regex(name):
    problems = refused(settings(nodes={name: {"address": "10.0.0.11"}}))
    assert any("a node name is" in p for p in problems), problems


def test_conflicting_addresses_are_refused():
    text = "\n".join(refused(settings(
        listen="10.0.0.5", mask_ip="10.0.0.11",
        nodes={"node1": {"address": "10.0.0.11"}, "twin": {"address": "10.0.0.11"},
               "self": {"address": "10.0.0.5"}, "carrier": {"address": "203.0.113.3"}})))
    assert "edge.nodes.twin: 10.0.0.11:5060 is already node node1" in text
    assert "edge.nodes.self: 10.0.0.5:5060 is Kamailio's own address" in text
    assert "edge.nodes.carrier: 203.0.113.3 is inside trunk carrier's inbound_from" in text
    assert "edge.mask_ip: 10.0.0.11 is in use" in text


def test_no_nodes_all_drained_or_no_carrier_are_refused():
    assert any("at least one node" in p for p in refused(settings(nodes={})))
    assert any("every node is drained" in p
               for p in refused(settings(nodes={"n1": {"address": "10.0.0.11", "drained": True}})))
    assert any("no trunk has inbound_from" in p
               for p in refused(settings(), carriers({"out": {"outbound": "sip:203.0.113.9:5060"}})))
    assert any(p.startswith("edge: expected a mapping") for p in refused(["node1"]))


def test_parse_edge_collects_problems_into_the_callers_list():
    problems = ["earlier"]
    assert parse_edge(settings(port=0), carriers(), problems) is None
    assert problems[0] == "earlier" and problems[1].startswith("edge.port")


def test_dispatcher_list_probes_every_node_and_disables_a_drained_one():
    text = render_dispatcher(load_edge(settings(), carriers()))
    rows = [ln.split() for ln in text.splitlines() if not ln.startswith("#")]
    assert rows == [["1", "sip:10.0.0.11:5060", "8", "0", "duid=node1"],
                    ["1", "sip:10.0.0.12:5080", "12", "0", "duid=node2"]]


def test_address_file_lists_the_carriers_networks_and_the_nodes():
    text = render_addresses(load_edge(settings(), carriers()), carriers())
    rows = [ln.split() for ln in text.splitlines() if not ln.startswith("#")]
    assert rows == [["1", "203.0.113.0", "28", "0", "carrier"], ["1", "198.51.100.7", "32", "0", "carrier"],
                    ["1", "2001:db8::1", "128", "0", "backup"],
                    ["2", "10.0.0.11", "32", "0", "node1"], ["2", "10.0.0.12", "32", "0", "node2"]]


def test_kamailio_cfg_has_every_piece_of_the_edge():
    edge = load_edge(settings(probe_interval_s=3, invite_timeout_ms=900, pike={"window_s": 4, "requests": 20,
                                                                               "ban_s": 120}), carriers())
    cfg = render_cfg(edge, FILES, KEY)
    assert cfg.startswith("#!KAMAILIO\n")
    assert "{{" not in cfg and "}}" not in cfg
    assert "\nlisten=udp:10.0.0.5:5060\n" in cfg
    for module in ("tm", "rr", "sl", "permissions", "pike", "htable", "dispatcher", "topoh", "ctl", "jsonrpcs"):
        assert f'loadmodule "{module}.so"' in cfg
    expected = ['modparam("dispatcher", "ds_ping_interval", 3)', 'modparam("dispatcher", "ds_probing_mode", 1)',
                'modparam("tm", "fr_timer", 900)', 'modparam("pike", "sampling_time_unit", 4)',
                'modparam("pike", "reqs_density_per_unit", 20)', 'autoexpire=120;',
                f'modparam("permissions", "address_file", "{FILES.address_list}")',
                f'modparam("dispatcher", "list_file", "{FILES.dispatcher_list}")',
                f'modparam("ctl", "binrpc", "unix:{FILES.ctl_socket}")', f'modparam("topoh", "mask_key", "{KEY}")',
                'modparam("topoh", "mask_ip", "127.0.0.8")', 'ds_select_dst("1", "4")', 'failure_route[NEXT_NODE]',
                'ds_mark_dst("ip")', "ds_next_dst()", "record_route()", "loose_route()", "pike_check_req()",
                'sl_send_reply("403", "Forbidden")', "event_route[topoh:msg-outgoing]"]
    for piece in expected:
        assert piece in cfg, piece
    # 408 (the transaction layer's own timeout) never counts as a live node
    codes = re.search(r'"ds_ping_reply_codes", "([^"]*)"', cfg)
    assert codes and "408" not in codes.group(1) and "class=4" not in codes.group(1)


def test_ipv6_listen_is_bracketed():
    cfg = render_cfg(load_edge(settings(listen="2001:db8::5"), carriers()), FILES, KEY)
    assert "\nlisten=udp:[2001:db8::5]:5060\n" in cfg


@pytest.mark.parametrize("key", ["short", 'k' * 20 + '"', "k" * 20 + " x", "k" * 200])
def test_the_mask_key_is_whitelisted(key):
    with pytest.raises(ValueError):
        render_cfg(load_edge(settings(), carriers()), FILES, key)


@pytest.mark.parametrize("path", ["relative/file", '/srv/a"b', "/srv/../etc/passwd", "/srv/a b", "/srv/a\nb"])
def test_file_paths_in_the_config_are_whitelisted(path):
    files = EdgeFiles(dispatcher_list=path, address_list=FILES.address_list, ctl_socket=FILES.ctl_socket,
                      jsonrpc_fifo=FILES.jsonrpc_fifo)
    with pytest.raises(ValueError):
        render_cfg(load_edge(settings(), carriers()), files, KEY)


def test_render_edge_gives_the_three_files_and_drain_is_a_dispatcher_rpc():
    edge = load_edge(settings(), carriers())
    out = render_edge(edge, carriers(), FILES, KEY)
    assert out.kamailio_cfg == render_cfg(edge, FILES, KEY)
    assert out.dispatcher_list == render_dispatcher(edge)
    assert out.address_list == render_addresses(edge, carriers())
    assert drain_command(edge.node("node1")) == ["dispatcher.set_state", "d", "1", "sip:10.0.0.11:5060"]
    assert drain_command(edge.node("node1"), drained=False) == ["dispatcher.set_state", "ap", "1",
                                                               "sip:10.0.0.11:5060"]


SEATS = {"1001": ("seat1", "s3cret-seat-1"), "1002": ("seat2", "another-secret")}


def test_registrar_settings_are_parsed_and_checked():
    assert load_edge(settings(), carriers()).registrar is None
    assert load_edge(settings(registrar=True), carriers()).registrar.realm == "hotline"
    reg = load_edge(settings(registrar={"realm": "12345.example.cn", "max_expires_s": 600}), carriers()).registrar
    assert (reg.realm, reg.max_expires_s) == ("12345.example.cn", 600)
    text = "\n".join(refused(settings(registrar={"realm": 'a"b', "max_expires_s": 5, "db": "redis"})))
    assert "edge.registrar.realm" in text and "edge.registrar.max_expires_s" in text
    assert "edge.registrar.db: unknown setting" in text


def test_seats_are_checked_against_their_ha1_and_no_secret_is_in_the_config():
    edge = load_edge(settings(registrar=True), carriers())
    cfg = render_cfg(edge, FILES, KEY, SEATS)
    ha1 = hashlib.md5(b"seat1:hotline:s3cret-seat-1").hexdigest()
    assert f'case "seat1":\n\t\t\t$var(ha1) = "{ha1}";' in cfg
    assert "s3cret-seat-1" not in cfg and "another-secret" not in cfg
    for piece in ('loadmodule "registrar.so"', 'loadmodule "usrloc.so"', 'loadmodule "auth.so"',
                  'pv_www_authenticate("hotline", "$var(ha1)", "1")', 'www_challenge("hotline", "0")',
                  "if ($au != $tU)", 'save("location")', 'lookup("location")', "route[TO_SEAT]",
                  'modparam("registrar", "max_expires", 3600)'):
        assert piece in cfg, piece
    assert "{{" not in cfg


def test_without_the_registrar_no_register_is_taken_and_nodes_ring_no_seat():
    cfg = render_cfg(load_edge(settings(), carriers()), FILES, KEY, SEATS)
    assert "REGISTER" not in cfg and "save(" not in cfg and "lookup(" not in cfg and "{{" not in cfg


@pytest.mark.parametrize("seats", [{}, {"1": ('se"at', "secret-123")}, {"1": ("seat 1", "secret-123")},
                                   {"1": ("seat1", "")}, {"1": ("seat1", "a\nb")},
                                   {"1": ("seat1", "secret-123"), "2": ("seat1", "secret-456")}])
def test_bad_seat_credentials_are_refused(seats):
    with pytest.raises(EdgeSettingsError):
        render_cfg(load_edge(settings(registrar=True), carriers()), FILES, KEY, seats)
