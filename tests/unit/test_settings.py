import pytest

from hotline.settings import SettingsError, load


def test_defaults_load():
    s = load(env={})
    assert s.hotline.timezone == "Asia/Shanghai"
    assert s.fastagi.drain_timeout_s > 0


def test_layers_file_confd_env_overrides(tmp_path):
    cfg = tmp_path / "site.yaml"
    cfg.write_text("network: {web_port: 8080}\nfallback: {queue_timeout_s: 100}\n", encoding="utf-8")
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "10-night.yaml").write_text("fallback: {queue_timeout_s: 200}\n", encoding="utf-8")
    s = load(cfg, env={"HOTLINE__NETWORK__WEB_PORT": "9090"}, overrides={"log": {"level": "DEBUG"}})
    assert s.network.web_port == 9090
    assert s.fallback.queue_timeout_s == 200
    assert s.log.level == "DEBUG"


def test_every_problem_reported(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("network: {web_port: abc, nonsense: 1}\nbogus: {}\n", encoding="utf-8")
    with pytest.raises(SettingsError) as err:
        load(cfg, env={})
    text = "\n".join(err.value.problems)
    assert "network.web_port: expected int" in text
    assert "network.nonsense: unknown setting" in text
    assert "bogus: unknown section" in text
