"""Where the registrar keeps the seats' location (dialplan/kamailio.py, edge.registrar.location): memory by
default, or Redis through db_redis; parsed and whitelisted, rendered into kamailio.cfg (pure; the restart
itself runs in tests/e2e/test_kamailio_restart.py)."""
import pytest

from dialplan.kamailio import (
    REDIS_SCHEMA,
    EdgeSettingsError,
    LocationStore,
    load_edge,
    location_version_row,
    render_cfg,
)
from tests.unit.test_kamailio_config import FILES, KEY, SEATS, carriers, refused, settings

URL = "redis://:Pa55-word_x.y~z@10.0.0.5:6379/5"


def registrar(location):
    return load_edge(settings(registrar={"realm": "hotline", "location": location}), carriers()).registrar


def test_the_location_is_in_memory_unless_a_store_is_set():
    assert load_edge(settings(registrar=True), carriers()).registrar.location is None
    for value in (None, "", "memory"):
        assert registrar(value).location is None
    cfg = render_cfg(load_edge(settings(registrar=True), carriers()), FILES, KEY, SEATS)
    assert 'modparam("usrloc", "db_mode", 0)' in cfg
    assert "db_redis" not in cfg and "db_url" not in cfg


def test_a_redis_location_is_parsed_and_its_password_kept_out_of_repr():
    store = registrar(URL).location
    assert store == LocationStore(host="10.0.0.5", port=6379, db=5, password="Pa55-word_x.y~z")
    assert store.db_url == URL
    assert "Pa55" not in repr(store)
    assert registrar("redis://redis.example.cn:6380/0").location == LocationStore("redis.example.cn", 6380, 0)
    assert registrar("redis://[2001:db8::5]:6379/1").location.db_url == "redis://[2001:db8::5]:6379/1"


def test_a_redis_location_is_rendered_write_through_with_the_packages_schema():
    edge = load_edge(settings(registrar={"location": URL}), carriers())
    cfg = render_cfg(edge, FILES, KEY, SEATS)
    pieces = ['loadmodule "db_redis.so"', f'modparam("db_redis", "schema_path", "{REDIS_SCHEMA}")',
              'modparam("db_redis", "keys", "version=entry:table_name")',
              'modparam("db_redis", "keys", "location=entry:ruid&usrdom:username,domain&timer:partition,keepalive")',
              f'modparam("usrloc", "db_url", "{URL}")', 'modparam("usrloc", "db_mode", 1)',
              'modparam("usrloc", "db_ops_ruid", 1)']
    for piece in pieces:
        assert piece in cfg, piece
    # db_redis is loaded before usrloc binds to it; the in-memory mode's db_mode is gone
    assert cfg.index('loadmodule "db_redis.so"') < cfg.index('loadmodule "usrloc.so"')
    assert 'modparam("usrloc", "db_mode", 0)' not in cfg and "{{" not in cfg


@pytest.mark.parametrize("value", [
    "redis://:s3c@r3t@10.0.0.5:6379/5",          # '@' in the password
    'redis://:s3c"r3t@10.0.0.5:6379/5',          # a quote would end kamailio.cfg's string
    "redis://:s3c%40r3t@10.0.0.5:6379/5",        # percent-encoding: Kamailio would not decode it
    "redis://:s3cr3t@10.0.0.5:6379/16",          # no Redis database 16
    "redis://:s3cr3t@10.0.0.5:70000/5",
    "redis://:s3cr3t@10.0.0.5/5",                # the port is needed
    "redis://:s3cr3t@10.0.0.5:6379",             # so is the database
    "redis://:s3cr3t@999.0.0.5:6379/5",
    "redis://:s3cr3t@-bad-.host:6379/5",
    "redis://:s3cr3t@10.0.0.5:6379/5\nloadmodule",
    "postgres://kamailio:s3cr3t@10.0.0.5/kamailio",
    "rediss://:s3cr3t@10.0.0.5:6379/5",
    "Redis",
    5, ["redis://10.0.0.5:6379/5"],
])
def test_a_bad_location_is_refused_with_a_clear_message_and_no_password_in_it(value):
    problems = refused(settings(registrar={"location": value}))
    assert len(problems) == 1 and problems[0].startswith("edge.registrar.location"), problems
    assert "s3c" not in problems[0] and "r3t" not in problems[0], problems


def test_location_problems_are_listed_with_the_others():
    problems = refused(settings(port=0, registrar={"location": "redis://:x@10.0.0.5:6379/99", "colour": 1}))
    text = "\n".join(problems)
    assert "edge.port" in text and "edge.registrar.location database" in text
    assert "edge.registrar.colour: unknown setting" in text


def test_a_store_path_that_is_not_whitelisted_is_refused():
    edge = load_edge(settings(registrar={"location": URL}), carriers())
    with pytest.raises(ValueError):
        render_cfg(edge, FILES.__class__(**{**FILES.__dict__, "redis_schema": '/usr/share/k"x'}), KEY, SEATS)


def test_the_version_row_comes_from_the_packages_schema_file():
    schema = "id/int,ruid/string,username/string,contact/string,\n9\n"
    assert location_version_row(schema) == ("version:entry::location",
                                            {"table_name": "location", "table_version": "9"})
    for bad in ("", "id/int,ruid/string\n", "id/int,table_name/string\n1\n", "ruid/string\nnine\n"):
        with pytest.raises(ValueError):
            location_version_row(bad)


def test_without_seats_a_redis_location_is_still_refused_like_memory():
    with pytest.raises(EdgeSettingsError):
        render_cfg(load_edge(settings(registrar={"location": URL}), carriers()), FILES, KEY, {})


def test_the_site_settings_carry_the_location_store(tmp_path):
    from hotline.settings import SettingsError, load

    def site(location: str):
        cfg = tmp_path / "site.yaml"
        cfg.write_text("trunks: {carrier: {inbound_from: [192.0.2.0/28]}}\nedge:\n  listen: 10.0.0.10\n"
                       f"  registrar: {{realm: hotline, location: '{location}'}}\n"
                       "  nodes: {node1: {address: 10.0.0.11}}\n", encoding="utf-8")
        return load(cfg, env={})

    store = site(URL).edge.registrar.location
    assert (store.host, store.port, store.db) == ("10.0.0.5", 6379, 5)
    assert site("memory").edge.registrar.location is None
    with pytest.raises(SettingsError) as err:
        site("redis://:s3cr3t@10.0.0.5:6379/42")
    assert "edge.registrar.location database" in str(err.value) and "s3cr3t" not in str(err.value)


def test_the_location_url_can_live_in_its_own_conf_d_file(tmp_path):
    from hotline.settings import load

    cfg = tmp_path / "site.yaml"
    cfg.write_text("trunks: {carrier: {inbound_from: [192.0.2.0/28]}}\nedge:\n  listen: 10.0.0.10\n"
                   "  registrar: {realm: hotline}\n  nodes: {node1: {address: 10.0.0.11}}\n", encoding="utf-8")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "edge-location.yaml").write_text(f"edge: {{registrar: {{location: '{URL}'}}}}\n")
    reg = load(cfg, env={}).edge.registrar
    assert reg.realm == "hotline" and reg.location.password == "Pa55-word_x.y~z"
