import shutil
from pathlib import Path

from ivr.model import Prompt
from recordings.prompts import PromptResolver
from recordings.tts import PromptCache


def test_text_prompt_is_tts_until_an_upload_replaces_it(tmp_path):
    resolver = PromptResolver(PromptCache(tmp_path / "tts"), tmp_path / "config", uploads_dir=tmp_path / "uploads")
    prompt = Prompt(text="您好，株洲12345。")
    spoken = resolver.resolve(prompt)
    assert Path(spoken + ".wav").exists() and "tts-" in spoken
    upload = resolver.upload_path(prompt.text)
    upload.parent.mkdir(parents=True)
    shutil.copy(spoken + ".wav", upload.with_suffix(".wav"))      # an admin uploads a recording
    assert resolver.resolve(prompt) == str(upload)
    assert resolver.resolve(Prompt(text="别的提示。")) != str(upload)  # only that text is replaced


def test_file_prompt_resolves_relative_to_config_without_extension(tmp_path):
    resolver = PromptResolver(PromptCache(tmp_path / "tts"), tmp_path / "config")
    assert resolver.resolve(Prompt(file="prompts/welcome.wav")) == str(tmp_path / "config" / "prompts" / "welcome")


def test_prewarm_synthesises_every_text_prompt(tmp_path):
    cache = PromptCache(tmp_path / "tts")
    resolver = PromptResolver(cache, tmp_path)
    n = resolver.prewarm([Prompt(text="一"), Prompt(text="二"), Prompt(file="x.wav")])
    assert n == 2 and len(list((tmp_path / "tts").glob("tts-*.wav"))) == 2
