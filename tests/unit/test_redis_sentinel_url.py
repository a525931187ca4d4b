"""Redis locations (kernel/redis.py) and the redis settings: the redis+sentinel:// form, its
whitelist, redaction, and redis.sentinels/master/password in the settings. No I/O."""
from __future__ import annotations

import pytest

from hotline.settings import SettingsError, load
from kernel.redis import RedisUrlError, SentinelRedis, parse_sentinel_url, redact_url, redis_client, sentinel_url


def test_a_sentinel_url_round_trips_with_its_passwords():
    url = sentinel_url(["10.0.0.1:26379", "sentinel-b.local:26380"], "hotline", password="p@ss/w:rd",
                       sentinel_password="s&p", db=2)
    assert url.startswith("redis+sentinel://:p%40ss%2Fw%3Ard@10.0.0.1:26379,sentinel-b.local:26380/hotline/2?")
    t = parse_sentinel_url(url)
    assert t is not None
    assert t.sentinels == (("10.0.0.1", 26379), ("sentinel-b.local", 26380))
    assert (t.master, t.password, t.sentinel_password, t.db) == ("hotline", "p@ss/w:rd", "s&p", 2)
    assert parse_sentinel_url("redis+sentinel://127.0.0.1:1/m").db == 0
    assert parse_sentinel_url("redis://127.0.0.1:6379/0") is None


@pytest.mark.parametrize("url", [
    "redis+sentinel://127.0.0.1:1/bad;name",          # master name outside the whitelist
    "redis+sentinel://127.0.0.1:1/",                  # no master
    "redis+sentinel://127.0.0.1:1/m/x",               # database not a number
    "redis+sentinel://127.0.0.1:1/m/0/extra",
    "redis+sentinel:///m",                            # no sentinels
    "redis+sentinel://127.0.0.1/m",                   # no port
    "redis+sentinel://127.0.0.1:0/m",
    "redis+sentinel://127.0.0.1:70000/m",
    "redis+sentinel://bad host:1/m",
    "redis+sentinel://-x:1/m",
    "redis+sentinel://127.0.0.1:1/m?socket_timeout=0",  # no other options
])
def test_a_malformed_sentinel_url_is_refused(url):
    with pytest.raises(RedisUrlError):
        parse_sentinel_url(url)


def test_redaction_hides_every_password():
    url = sentinel_url(["127.0.0.1:1", "127.0.0.1:2"], "m", password="SECRET1", sentinel_password="SECRET2")
    shown = redact_url(url)
    assert "SECRET" not in shown
    assert shown == "redis+sentinel://:***@127.0.0.1:1,127.0.0.1:2/m/0?sentinel_password=***"
    assert redact_url("redis://:SECRET@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


async def test_the_factory_builds_a_sentinel_client_with_the_same_options():
    plain = redis_client("redis://127.0.0.1:1/0")
    client = redis_client(sentinel_url(["127.0.0.1:1", "127.0.0.1:2"], "m", password="pw"))
    assert isinstance(client, SentinelRedis)
    kw, base = client.connection_pool.connection_kwargs, plain.connection_pool.connection_kwargs
    for name in ("decode_responses", "socket_timeout", "socket_connect_timeout", "health_check_interval",
                 "retry_on_error"):
        assert kw[name] == base[name], name
    assert kw["password"] == "pw" and client.connection_pool.max_connections == plain.connection_pool.max_connections
    assert client.connection_pool.service_name == "m"
    assert [s.connection_pool.connection_kwargs["port"] for s in client.sentinels.sentinels] == [1, 2]
    await client.aclose()
    await plain.aclose()


def test_settings_sentinels_make_the_client_url():
    s = load(env={}, overrides={"redis": {"sentinels": ["127.0.0.1:26379", "127.0.0.1:26380"],
                                          "master": "hotline", "password": "pw"}})
    t = parse_sentinel_url(s.redis.client_url)
    assert t is not None and t.master == "hotline" and t.password == "pw" and t.sentinel_password == ""
    assert load(env={}).redis.client_url == ""
    assert load(env={}, overrides={"redis": {"url": "redis://127.0.0.1:1/0"}}).redis.client_url == \
        "redis://127.0.0.1:1/0"
    from_env = load(env={"HOTLINE__REDIS__SENTINELS": "[127.0.0.1:26379]", "HOTLINE__REDIS__PASSWORD": "x"})
    assert parse_sentinel_url(from_env.redis.client_url).sentinels == (("127.0.0.1", 26379),)


@pytest.mark.parametrize("redis, problem", [
    ({"sentinels": ["127.0.0.1:1"], "url": "redis://127.0.0.1:1/0"}, "set one of them"),
    ({"sentinels": ["127.0.0.1"]}, "expected host:port"),
    ({"sentinels": ["127.0.0.1:1"], "master": "a b"}, "master name"),
])
def test_bad_redis_settings_are_refused(redis, problem):
    with pytest.raises(SettingsError, match=problem):
        load(env={}, overrides={"redis": redis})
