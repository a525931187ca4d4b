import wave

from recordings.tts import PromptCache, TTSVoice, duration_s


def test_prompt_is_cached_by_text_and_regenerated_when_text_changes(tmp_path):
    cache = PromptCache(tmp_path)
    a = cache.ensure("您好，这里是株洲12345热线。")
    wav = a.with_suffix(".wav")
    assert wav.exists()
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
    assert 0.5 < duration_s(wav) < 10
    mtime = wav.stat().st_mtime_ns
    assert cache.ensure("您好，这里是株洲12345热线。") == a
    assert wav.stat().st_mtime_ns == mtime          # not regenerated
    b = cache.ensure("企业诉求请按2。")
    assert b != a and b.with_suffix(".wav").exists()


def test_voice_settings_are_part_of_the_key(tmp_path):
    fast = PromptCache(tmp_path, TTSVoice(speed=240))
    slow = PromptCache(tmp_path, TTSVoice(speed=140))
    assert fast.key("请稍候") != slow.key("请稍候")
    d_fast = duration_s(fast.ensure("请稍候，正在为您转接").with_suffix(".wav"))
    d_slow = duration_s(slow.ensure("请稍候，正在为您转接").with_suffix(".wav"))
    assert d_slow > d_fast


def test_default_greeting_is_at_most_eight_seconds(tmp_path):
    """DOMAIN.md: the greeting (recording notice, 110/119/120) lasts at most 8 s."""
    from hotline.settings import REPO, load
    from ivr.loader import load_file

    settings = load(env={})
    tree = load_file(REPO / "config" / "ivr" / "zhuzhou.yaml").require()
    cache = PromptCache(tmp_path, TTSVoice(voice=settings.prompts.voice, speed=settings.prompts.speed))
    greeting = tree.nodes["welcome"].prompt.text
    assert "录音" in greeting and "110" in greeting
    assert duration_s(cache.ensure(greeting).with_suffix(".wav")) <= 8.0
