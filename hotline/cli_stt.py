"""`hotline stt FILE.wav`: transcribe a recording with the speech workers and
print each utterance with its timings (or JSON with --json)."""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from recordings.audio import AudioFormatError, encode, resample
from recordings.stt.engine import Final, Partial, VoskEngineFactory
from recordings.stt.errors import ModelNotFoundError, STTError
from recordings.stt.models import ENV_MODEL, default_model_path
from recordings.stt.pool import PoolConfig, STTPool
from recordings.wavfile import read_wav


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stt", help="transcribe a WAV file (any rate, width, channels) with vosk")
    p.add_argument("file", type=Path, metavar="FILE.wav")
    p.add_argument("--model", type=Path,
                   help=f"vosk model folder (default: ${ENV_MODEL}, else the packaged test model)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--phone", action="store_true",
                   help="send the audio as a phone line does: 8 kHz G.711 μ-law")
    p.add_argument("--partials", action="store_true", help="also print partial results (to stderr)")
    p.set_defaults(func=run)


def _line(final: Final) -> str:
    return f"[{final.start:8.2f} - {final.end:8.2f}] {final.text}"


async def _transcribe(args: argparse.Namespace, model: Path) -> int:
    pcm, info = read_wav(args.file)
    rate, encoding, data = info.rate, "slin", pcm
    if args.phone:
        rate, encoding = 8000, "ulaw"
        data = encode(resample(pcm, info.rate, rate), encoding)
    started = time.monotonic()
    async with STTPool(VoskEngineFactory(str(model)),
                       PoolConfig(workers=1, max_sessions_per_worker=1, busy_timeout_s=600.0)) as pool:
        load_s = time.monotonic() - started
        started = time.monotonic()
        session = await pool.open(str(args.file), rate, encoding)
        step = rate * (2 if encoding == "slin" else 1)      # one second per message

        async def feed() -> None:
            for i in range(0, len(data), step):
                await session.feed(data[i:i + step])
            await session.end()

        feeder = asyncio.ensure_future(feed())
        try:
            async for result in session.results():
                if isinstance(result, Partial):
                    if args.partials:
                        print(f"  … {result.text}", file=sys.stderr, flush=True)
                elif result.text and not args.json:
                    print(_line(result), flush=True)
            await feeder
        finally:
            if not feeder.done():
                feeder.cancel()
        transcript = await session.transcript()
    elapsed = time.monotonic() - started
    duration = info.duration
    summary = {"file": str(args.file), "model": str(model), "rate": info.rate, "channels": info.channels,
               "sent_as": f"{encoding}/{rate}", "load_s": round(load_s, 2), "elapsed_s": round(elapsed, 2),
               "rtf": round(elapsed / duration, 3) if duration else None}
    if args.json:
        print(json.dumps({**transcript.to_dict(), **summary}, ensure_ascii=False))
    else:
        print(f"{duration:.1f} s of audio in {elapsed:.1f} s (real-time factor {summary['rtf']}), "
              f"model loaded in {load_s:.1f} s", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    model = default_model_path(args.model)
    try:
        if model is None:
            raise ModelNotFoundError("(none)", f"no model given: pass --model or set {ENV_MODEL}")
        return asyncio.run(_transcribe(args, model))
    except (ModelNotFoundError, AudioFormatError) as exc:
        print(f"hotline stt: {exc}", file=sys.stderr)
        return 2
    except STTError as exc:
        print(f"hotline stt: {exc} [{exc.error_id}]", file=sys.stderr)
        return 1
