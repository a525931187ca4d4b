"""Where a prompt's audio is: an uploaded file, the tree's own file, or TTS.

Asterisk plays files by path without extension, so every method returns that.
An admin upload for a prompt text (stored under uploads/ by the text's key)
replaces the TTS of that text everywhere it is used.
"""
from __future__ import annotations

import asyncio
from pathlib import Path

from kernel.errors import HotlineError
from recordings.tts import PromptCache

AUDIO_EXTS = (".wav", ".gsm", ".ulaw", ".alaw", ".sln", ".sln16", ".g722")


class PromptError(HotlineError, RuntimeError):
    error_id = "prompt"

    def __init__(self, prompt: object, detail: str) -> None:
        super().__init__(detail, text=f"prompt {prompt!r}: {detail}")
        self.detail = detail


def strip_ext(path: Path) -> Path:
    return path.with_suffix("") if path.suffix.lower() in AUDIO_EXTS else path


class PromptResolver:
    def __init__(self, tts: PromptCache, base_dir: Path, uploads_dir: Path | None = None) -> None:
        self.tts = tts
        self.base_dir = Path(base_dir)
        self.uploads_dir = Path(uploads_dir) if uploads_dir else None

    def upload_path(self, text: str) -> Path | None:
        if not self.uploads_dir:
            return None
        return self.uploads_dir / self.tts.key(text).replace("tts-", "upload-")

    def resolve(self, prompt) -> str:
        """Blocking: may synthesise. Prefer `prewarm` at publish time, `resolve_async` in calls."""
        file = getattr(prompt, "file", None)
        text = getattr(prompt, "text", None)
        if file:
            from kernel.paths import OutsideRoot, resolve_path
            try:
                p = resolve_path(self.base_dir, file)     # confined to the config folder
            except OutsideRoot:
                raise PromptError(prompt, "file outside the config folder") from None
            return str(strip_ext(p))
        if text:
            up = self.upload_path(text)
            if up and any(up.with_suffix(ext).exists() for ext in AUDIO_EXTS):
                return str(up)
            return str(self.tts.ensure(text))
        raise PromptError(prompt, "neither text nor file")

    async def resolve_async(self, prompt) -> str:
        file = getattr(prompt, "file", None)
        text = getattr(prompt, "text", None)
        if not file and text and self.tts.path(text).with_suffix(".wav").exists():
            up = self.upload_path(text)
            if not (up and any(up.with_suffix(ext).exists() for ext in AUDIO_EXTS)):
                return str(self.tts.path(text))
        return await asyncio.to_thread(self.resolve, prompt)

    def prewarm(self, prompts) -> int:
        """Synthesise every text prompt now (publish time), so calls never wait for TTS."""
        n = 0
        for p in prompts:
            if getattr(p, "text", None) and not getattr(p, "file", None):
                self.tts.ensure(p.text)
                n += 1
        return n
