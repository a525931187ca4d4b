"""Prompts spoken by espeak-ng (Mandarin) into 8 kHz WAV files, cached by
content hash: the same text, voice and speed give the same file; a changed
text gives a new one. An uploaded file for a prompt replaces the TTS (see
PromptStore).
"""
from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kernel.errors import HotlineError


class TTSError(HotlineError, RuntimeError):
    error_id = "tts"

    def __init__(self, text: str, detail: str) -> None:
        super().__init__(detail, text=f"text-to-speech failed for {text[:30]!r}: {detail}")
        self.text = text
        self.detail = detail


@dataclass(frozen=True)
class TTSVoice:
    voice: str = "cmn"
    speed: int = 240          # words per minute (espeak-ng -s)
    pitch: int = 50
    gain_db: float = -3.0


class PromptCache:
    """Text -> WAV (8 kHz, mono, 16-bit) in `directory`, named by content hash."""

    def __init__(self, directory: Path, voice: TTSVoice | None = None) -> None:
        self.dir = Path(directory)
        self.voice = voice or TTSVoice()

    def key(self, text: str) -> str:
        v = self.voice
        h = hashlib.sha256(f"{v.voice}|{v.speed}|{v.pitch}|{v.gain_db}|{text}".encode()).hexdigest()
        return f"tts-{h[:20]}"

    def path(self, text: str) -> Path:
        """Path without extension, as Asterisk's Playback wants it."""
        return self.dir / self.key(text)

    def ensure(self, text: str) -> Path:
        """Generate the WAV if missing; return the path without extension."""
        base = self.path(text)
        wav = base.with_suffix(".wav")
        if wav.exists() and wav.stat().st_size > 44:
            return base
        self.dir.mkdir(parents=True, exist_ok=True)
        espeak = shutil.which("espeak-ng")
        sox = shutil.which("sox")
        if not espeak or not sox:
            raise TTSError(text, "espeak-ng and sox are required (run scripts/setup)")
        fd, raw = tempfile.mkstemp(suffix=".wav", dir=self.dir)
        os.close(fd)
        fd, out = tempfile.mkstemp(suffix=".wav", dir=self.dir)
        os.close(fd)
        try:
            v = self.voice
            r = subprocess.run([espeak, "-v", v.voice, "-s", str(v.speed), "-p", str(v.pitch), "-w", raw, "--", text],
                               capture_output=True, timeout=30)
            if r.returncode != 0:
                raise TTSError(text, r.stderr.decode(errors="replace").strip() or f"espeak-ng exit {r.returncode}")
            r = subprocess.run([sox, "-V1", raw, "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", out,
                                "gain", "-n", str(v.gain_db)], capture_output=True, timeout=30)
            if r.returncode != 0:
                raise TTSError(text, r.stderr.decode(errors="replace").strip() or f"sox exit {r.returncode}")
            os.replace(out, wav)
        except subprocess.TimeoutExpired as exc:
            raise TTSError(text, "timed out") from exc
        finally:
            for p in (raw, out):
                if os.path.exists(p):
                    os.unlink(p)
        return base

    def silence(self, seconds: int = 1) -> Path:
        """A file of digital silence (8 kHz), path without extension."""
        import wave

        base = self.dir / f"silence-{seconds}"
        wav = base.with_suffix(".wav")
        if not wav.exists():
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f".{wav.name}.tmp"
            with wave.open(str(tmp), "wb") as w:
                w.setnchannels(1)
                w.setsampwidth(2)
                w.setframerate(8000)
                w.writeframes(b"\0\0" * 8000 * seconds)
            os.replace(tmp, wav)
        return base

    async def ensure_async(self, text: str) -> Path:
        return await asyncio.to_thread(self.ensure, text)


def duration_s(wav: Path) -> float:
    """Length of a PCM WAV file in seconds (header-based)."""
    import wave

    with wave.open(str(wav), "rb") as w:
        return w.getnframes() / float(w.getframerate())
