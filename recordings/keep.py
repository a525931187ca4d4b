"""What is kept of a call's audio, and for how long.

During an answered call MixMonitor writes the conversation mixed (BASE.wav) and each direction
(BASE-caller.wav, BASE-seat.wav) for live speech-to-text. When the call is over and speech-to-text
is done with it, one recording is kept: the mixed one, compressed with sox (``recordings.compress``:
ogg or flac; none keeps the WAV). The per-direction files are deleted.

The caller's account (a describe step's recording, RECORDINGS/describe/CALLID-NODE.wav) is kept the
same way once speech-to-text has read it (``describe_done``, from recordings/describe.py, before the
draft ticket is filed, so the draft and the call record's ``describe_recording`` point at the kept
file from the start).

Recordings older than ``recordings.retention_days`` are deleted by ``sweep`` (everything under the
recordings folder: calls and describe alike). Files are mode 0640.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("hotline.recordings.keep")

FORMATS = {"ogg": ("ogg", ["-C", "3"]), "flac": ("flac", ["-C", "5"]), "none": ("wav", [])}
DIRECTIONS = ("caller", "seat")
AUDIO_SUFFIXES = (".wav", ".ogg", ".flac", ".gsm", ".sln")


def direction_files(base: Path) -> list[Path]:
    """The per-direction files of a call's recording base (not with_suffix: a call id has a dot)."""
    return [base.parent / f"{base.name}-{d}.wav" for d in DIRECTIONS]


def kept_name(base: Path, compress: str) -> Path:
    ext, _ = FORMATS[compress]
    return base.parent / f"{base.name}.{ext}"


def base_of(recording: str | Path) -> Path:
    """BASE from BASE.wav (the call record's ``recording``), keeping any dot in the call id."""
    p = Path(recording)
    return p.parent / p.name[:-4] if p.name.endswith(".wav") else p


def compress_file(wav: Path, compress: str, sox: str | None = None) -> Path:
    """sox WAV -> the kept format, written complete under a temporary name then renamed. The WAV is
    left for the caller to remove once the call record points at the new file. Blocking."""
    if compress == "none":
        with contextlib.suppress(OSError):
            os.chmod(wav, 0o640)
        return wav
    ext, opts = FORMATS[compress]
    out = wav.parent / f"{wav.name[:-4]}.{ext}"
    tmp = wav.parent / f".{out.name}.tmp.{ext}"
    exe = sox or shutil.which("sox") or "sox"
    import subprocess
    res = subprocess.run([exe, "-q", str(wav), *opts, str(tmp)], capture_output=True, timeout=300)
    if res.returncode != 0 or not tmp.exists() or tmp.stat().st_size == 0:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise RuntimeError(f"sox could not compress {wav.name}: {res.stderr.decode(errors='replace')[-300:]}")
    os.chmod(tmp, 0o640)
    os.replace(tmp, out)
    return out


class RecordingKeeper:
    """After each answered call: wait until speech-to-text is done with the call, keep one compressed
    recording, delete the per-direction files, point the call record at what was kept."""

    def __init__(self, calls, compress: str = "ogg", *, busy: Callable[[str], bool] = lambda call_id: False,
                 settle_s: float = 1.0, max_wait_s: float = 4 * 3600) -> None:
        if compress not in FORMATS:
            raise ValueError(f"compress must be one of {', '.join(FORMATS)}")
        self.calls = calls
        self.compress = compress
        self.busy = busy                  # e.g. the live transcriber still has the call
        self.settle_s = settle_s
        self.max_wait_s = max_wait_s
        self.tasks: set[asyncio.Task] = set()

    def call_ended(self, call_id: str, recording: str | Path) -> asyncio.Task:
        task = asyncio.create_task(self._finish(call_id, base_of(recording)), name=f"keep-{call_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _finish(self, call_id: str, base: Path) -> Path | None:
        deadline = time.monotonic() + self.max_wait_s
        while self.busy(call_id) and time.monotonic() < deadline:
            await asyncio.sleep(1.0)
        wav = base.parent / f"{base.name}.wav"
        await self._settled(wav)
        kept = await self._keep(call_id, wav)
        for f in direction_files(base):
            with contextlib.suppress(FileNotFoundError):
                f.unlink()
        return kept

    async def describe_done(self, call_id: str, wav: Path) -> Path | None:
        """Speech-to-text is done with the caller's account: keep it compressed (the call record's
        ``describe_recording`` then points at the kept file); the path to use from now on."""
        return await self._keep(call_id, Path(wav), describe=True)

    async def _keep(self, call_id: str, wav: Path, *, describe: bool = False) -> Path | None:
        """``wav`` compressed (or left as WAV when sox fails), the call record's ``recording`` (or
        ``describe_recording``) pointed at the kept file, then the WAV removed."""
        field = "describe_recording" if describe else "recording"
        kept = None
        try:
            if wav.exists():
                kept = await asyncio.to_thread(compress_file, wav, self.compress)
        except (RuntimeError, OSError, TimeoutError) as exc:
            log.warning("call %s: %s kept as WAV (%s)", call_id, field, exc)
            kept = wav if wav.exists() else None
        if kept is not None:
            with contextlib.suppress(Exception):
                await self.calls.recording_kept(call_id, str(kept.resolve()), describe=describe)
            if kept != wav:
                with contextlib.suppress(FileNotFoundError):
                    wav.unlink()                  # the record points at the kept file now
            log.info("call %s: %s kept as %s", call_id, field, kept.name)
        return kept

    async def _settled(self, wav: Path) -> None:
        """MixMonitor closes its files a moment after the bridge ends: wait until the size holds."""
        last = -2
        for _ in range(int(30 / max(0.1, self.settle_s)) + 1):
            try:
                size = wav.stat().st_size
            except OSError:
                size = -1
            if size == last:
                return
            last = size
            await asyncio.sleep(self.settle_s)

    async def close(self, timeout: float = 10.0) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=timeout)


def sweep(root: Path, retention_days: int, now: float | None = None) -> int:
    """Delete recordings under ``root`` older than ``retention_days`` (0: keep all); return how many."""
    if retention_days <= 0 or not root.is_dir():
        return 0
    cutoff = (now or time.time()) - retention_days * 86400
    removed = 0
    for path in root.rglob("*"):
        try:
            if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES and path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except OSError:
            continue
    return removed
