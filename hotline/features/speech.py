"""Speech: the speech-to-text workers (when a model is configured, never
downloaded), and the live transcript of answered calls (both directions)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from devstack.asterisk_server import AsteriskInstall, major_version
from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from hotline.features.tickets import Tickets
from hotline.settings import Settings
from pbx.contract import LIVE_SPY
from pbx.live_audio import LiveAudioServer, SpyCapture, install_script
from recordings.live import LiveTranscriber
from recordings.stt.pool import STTPool

log = logging.getLogger("hotline.features.speech")



def live_capture(s: Settings, install: AsteriskInstall) -> str:
    """How live-transcript audio leaves Asterisk: asterisk.live_capture, where `auto` is AudioSocket
    on an Asterisk that has it (18+) and EAGI before (see the README for the measurement)."""
    if s.asterisk.live_capture != "auto":
        return s.asterisk.live_capture
    return "audiosocket" if major_version(install.version()) >= 18 else "eagi"


@dataclass(kw_only=True)
class Speech(Feature):
    pool: STTPool | None            # None: no stt.model, drafts are filed without a transcript


async def load(deps: Deps) -> Speech:
    s = deps.settings
    if not s.stt.model:
        log.info("speech-to-text off (no stt.model): drafts are filed without a transcript")
        return Speech(pool=None)
    from recordings.stt.engine import VoskEngineFactory  # vosk is loaded only when a model is configured
    from recordings.stt.models import check_model_dir
    from recordings.stt.pool import PoolConfig

    model = check_model_dir(s.path(s.stt.model))          # a clear error for a wrong path
    pool = STTPool(VoskEngineFactory(str(model)), PoolConfig(workers=s.stt.workers))
    await pool.start()
    return Speech(pool=pool, closers=[pool.close])


@dataclass(kw_only=True)
class Live(Feature):
    transcriber: LiveTranscriber | None      # None: stt off, or stt.live off


async def load_live(deps: Deps, trees: Trees, speech: Speech, tickets: Tickets) -> Live:
    s = deps.settings
    if speech.pool is None or not s.stt.live:
        return Live(transcriber=None)
    live_audio = LiveAudioServer(s.stt.live_audio_host or s.network.host)
    await live_audio.start()
    ami = deps.ami
    # the audio leaves Asterisk by AudioSocket on 18+ (asterisk.live_capture: auto), else by EAGI
    capture = SpyCapture(lambda: ami, live_audio, install_script(deps.run / "agi-bin"), LIVE_SPY,
                         method=live_capture(deps.settings, deps.asterisk.install))
    live = LiveTranscriber(speech.pool, deps.publish, trees.calls, tickets.store, capture=capture,
                           redis=deps.redis, node=deps.node)
    return Live(transcriber=live, ami=[(live.EVENTS, live.on_ami_event)], closers=[live.close, live_audio.close])
