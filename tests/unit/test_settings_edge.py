"""The `edge:` settings (Kamailio at the SIP edge) read by hotline/settings.py, validated against the trunks."""
import pytest

from hotline.settings import SettingsError, load

TRUNK = "trunks: {carrier: {inbound_from: [192.0.2.0/28]}}\n"


def _load(tmp_path, text: str):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(text, encoding="utf-8")
    return load(cfg, env={})


def test_no_edge_by_default():
    assert load(env={}).edge is None


def test_edge_read_and_checked_against_the_trunks(tmp_path):
    s = _load(tmp_path, TRUNK + """edge:
  listen: 10.0.0.10
  port: 5070
  children: 1
  registrar: {realm: hotline}
  nodes:
    node1: {address: 10.0.0.11, port: 5060}
    node2: {address: 10.0.0.12, drained: true}
""")
    assert s.edge is not None and s.edge.listen == "10.0.0.10" and s.edge.port == 5070
    assert [(n.name, n.uri, n.drained) for n in s.edge.nodes] == [
        ("node1", "sip:10.0.0.11:5060", False), ("node2", "sip:10.0.0.12:5060", True)]
    assert s.edge.registrar is not None and s.edge.registrar.realm == "hotline"


def test_every_edge_problem_listed(tmp_path):
    with pytest.raises(SettingsError) as err:
        _load(tmp_path, TRUNK + """edge:
  listen: not-an-address
  port: 70000
  colour: blue
  nodes:
    Node1: {address: 192.0.2.3}
    node2: {address: "10.0.0.12\\r\\nVia: x"}
""")
    text = "\n".join(err.value.problems)
    for expected in ("edge.listen: 'not-an-address' is not an IP address", "edge.port: expected a whole number",
                     "edge.colour: unknown setting", "edge.nodes.Node1: a node name is",
                     "edge.nodes.node2.address:"):
        assert expected in text, (expected, text)


def test_a_node_inside_a_carriers_network_is_refused(tmp_path):
    with pytest.raises(SettingsError) as err:
        _load(tmp_path, TRUNK + "edge: {nodes: {node1: {address: 192.0.2.5}}}\n")
    assert any("edge.nodes.node1: 192.0.2.5 is inside trunk carrier's inbound_from" in p for p in err.value.problems)


def test_an_edge_without_any_carrier_is_refused(tmp_path):
    with pytest.raises(SettingsError) as err:
        _load(tmp_path, "edge: {nodes: {node1: {address: 10.0.0.11}}}\n")
    assert any("no trunk has inbound_from" in p for p in err.value.problems)
