"""Trunk and SIP network settings: parsing, whitelisting and the PJSIP renderer (pure)."""
import pytest

from dialplan import hotline as dp
from dialplan.trunks import TRUNK_CONTEXT, parse_network, parse_trunks, parse_uri, render_trunks, transport_options
from hotline.settings import SettingsError, load

SITE = """
network:
  sip_bind: 0.0.0.0
  rtp_ports: 10000-20000
  external_address: 203.0.113.7
  local_nets: [10.0.0.0/8, 192.168.1.0/24]
trunks:
  carrier:
    inbound_from: [127.0.0.2/32]
    outbound: sip:127.0.0.2:5070
    caller_id: "12345"
"""


def trunks(data):
    problems: list[str] = []
    out = parse_trunks(data, problems)
    return out, problems


def test_site_file_of_the_issue_loads(tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text(SITE, encoding="utf-8")
    s = load(cfg, env={})
    assert s.network.sip.sip_bind == "0.0.0.0"
    assert (s.network.sip.rtp_start, s.network.sip.rtp_end) == (10000, 20000)
    (t,) = s.trunks
    assert t.name == "carrier" and t.inbound_from == ("127.0.0.2/32",)
    assert str(t.outbound) == "sip:127.0.0.2:5070" and t.caller_id == "12345"
    assert t.codecs == ("alaw", "ulaw") and t.dtmf_mode == "rfc4733" and t.rtp_timeout_s == 60
    nat = transport_options(s.network.sip)
    assert "external_media_address = 203.0.113.7" in nat and "local_net = 192.168.1.0/24" in nat


def test_defaults_have_no_trunk_and_the_wide_rtp_range():
    s = load(env={})
    assert s.trunks == ()
    assert s.network.sip.sip_bind == "127.0.0.1"
    assert s.network.sip.rtp_end - s.network.sip.rtp_start == 10000
    assert s.recordings_dir.name == "recordings" and s.recordings.compress == "ogg"


def test_every_problem_listed(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("""
network: {sip_bind: "1.2.3.4;x", rtp_ports: 20000-100}
trunks:
  "Bad Name": {inbound_from: [10.0.0.1]}
  carrier:
    inbound_from: [127.0.0.2/32, "not-an-ip"]
    outbound: "sip:127.0.0.2:5070\\r\\n[evil]"
    caller_id: "12345;x"
    codecs: [opus]
    dtmf_mode: loud
    register: {username: "a b", secret: "x;y"}
    wat: 1
  empty: {}
""", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load(cfg, env={})
    text = "\n".join(err.value.problems)
    for needle in ("network.sip_bind", "network.rtp_ports", "trunks.Bad Name: a trunk name",
                   "trunks.carrier.inbound_from[1]", "trunks.carrier.outbound", "trunks.carrier.caller_id",
                   "trunks.carrier.codecs", "trunks.carrier.dtmf_mode", "trunks.carrier.register.username",
                   "trunks.carrier.register.secret", "trunks.carrier.wat: unknown setting",
                   "trunks.empty: needs inbound_from"):
        assert needle in text, needle


@pytest.mark.parametrize("bad", ["sip:a@b", "sip:1.2.3.4:99999", "http://x", "sip:host;transport=tcp",
                                 "sip:[::1", "sip:-bad-.example", "sip:1.2.3.4\n", "sip:999.1.1.1"])
def test_bad_uris_refused(bad):
    problems: list[str] = []
    assert parse_uri(bad, "x", problems) is None and problems


@pytest.mark.parametrize("good,rendered", [("sip:127.0.0.2:5070", "sip:127.0.0.2:5070"),
                                           ("sip:SBC.Example.cn", "sip:sbc.example.cn"),
                                           ("sips:[::1]:5061", "sips:[::1]:5061")])
def test_good_uris_normalised(good, rendered):
    assert str(parse_uri(good, "x", [])) == rendered


def test_network_normalised():
    problems: list[str] = []
    n = parse_network({"sip_bind": " 0.0.0.0 ", "rtp_ports": "12000 - 13000", "local_nets": ["10.1.2.3/8"]},
                      "network", problems)
    assert not problems
    assert (n.sip_bind, n.rtp_start, n.rtp_end, n.local_nets) == ("0.0.0.0", 12000, 13000, ("10.0.0.0/8",))


def test_render_endpoint_identify_and_rtp_timeout():
    (t,), problems = trunks({"carrier": {"inbound_from": ["127.0.0.2"], "outbound": "sip:127.0.0.2:5070",
                                         "codecs": ["PCMA", "pcmu"], "dtmf_mode": "auto", "rtp_timeout_s": 7,
                                         "session_timers": False}})
    assert not problems
    text = render_trunks([t])
    assert "[carrier]\ntype = endpoint\ncontext = from-pstn\ndisallow = all\nallow = alaw,ulaw\ndtmf_mode = auto" \
        in text
    assert "rtp_timeout = 7\n" in text and "timers = no" in text
    assert "[carrier-identify]\ntype = identify\nendpoint = carrier\nmatch = 127.0.0.2/32" in text
    assert "contact = sip:127.0.0.2:5070" in text
    assert "registration" not in text and "callerid" not in text    # the caller's own number is kept
    assert TRUNK_CONTEXT == dp.ENTRY


def test_render_registration():
    (t,), problems = trunks({"reg": {"register": {"username": "hotline", "secret": "s3cr#t!",
                                                  "server": "sip:127.0.0.3:5080"}}})
    assert not problems
    text = render_trunks([t])
    assert "[reg-reg]\ntype = registration" in text
    assert "server_uri = sip:127.0.0.3:5080" in text and "client_uri = sip:hotline@127.0.0.3:5080" in text
    assert "line = yes\nendpoint = reg" in text and "password = s3cr#t!" in text
    assert "outbound_auth = reg-auth" in text and "identify" not in text


def test_two_trunks_cannot_claim_one_network():
    _, problems = trunks({"a": {"inbound_from": ["10.0.0.1"]}, "b": {"inbound_from": ["10.0.0.1/32"]}})
    assert any("already trunk a's" in p for p in problems)


@pytest.mark.parametrize("name", ["global", "a" * 40, "1abc", "ab;c", "AB"])
def test_trunk_names_whitelisted(name):
    _, problems = trunks({name: {"inbound_from": ["10.0.0.1"]}})
    assert problems


def test_no_injection_reaches_the_text():
    evil = ["10.0.0.1\n[x]", "sip:a\r\n", "x;y", "[x]"]
    for e in evil:
        _, problems = trunks({"c": {"inbound_from": [e], "outbound": e, "caller_id": e}})
        assert problems
