"""Speech: the speech-to-text workers (when a model is configured, never
downloaded), and the live transcript of answered calls (both directions)."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from agents.node_actions import NodeActions
from devstack.asterisk_server import AsteriskInstall, major_version
from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from hotline.features.routing import Routing
from hotline.features.tickets import Tickets
from hotline.settings import Settings
from ivr.calls import CallRecords
from pbx.contract import LIVE_SPY
from pbx.live_audio import LiveAudioServer, SpyCapture, install_script
from recordings.live import LiveTranscriber
from recordings.stt.pool import STTPool
from web.errors import ApiError

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


def register_live_actions(actions: NodeActions, live: LiveTranscriber | None, calls: CallRecords) -> None:
    """The node action "live_capture" (on the node holding the call): stop the call's live transcript,
    or start it again (a spy capture on the caller's and the seat's channels)."""

    async def live_capture(p: dict[str, str]) -> object:
        call_id, on = p["call_id"], p["on"] == "1"
        if live is None:
            raise ApiError(409, "no_live", "未启用实时转写")
        running = live.active.get(call_id)
        if not on:
            if running is not None:
                running.stop.set()
            return {"call_id": call_id, "live": False}
        if running is not None and not running.stop.is_set():
            return {"call_id": call_id, "live": True}
        record = await calls.record(call_id)
        if live.capture is None or record is None or not record.seat_channel:
            raise ApiError(409, "no_capture", "无法重新开启该通话的实时转写")
        if live.redis is not None:               # this node takes the call's transcript again
            await live.redis.delete(f"hotline:live:owner:{call_id}")
        started = await live.answered(call_id, seat_channel=record.seat_channel)
        return {"call_id": call_id, "live": started is not None}

    actions.register("live_capture", live_capture)


async def load_live(deps: Deps, trees: Trees, speech: Speech, tickets: Tickets, routing: Routing) -> Live:
    s = deps.settings
    if speech.pool is None or not s.stt.live:
        register_live_actions(routing.actions, None, trees.calls)
        return Live(transcriber=None)
    live_audio = LiveAudioServer(s.stt.live_audio_host or s.network.host)
    await live_audio.start()
    ami = deps.ami
    # the audio leaves Asterisk by AudioSocket on 18+ (asterisk.live_capture: auto), else by EAGI
    capture = SpyCapture(lambda: ami, live_audio, install_script(deps.run / "agi-bin"), LIVE_SPY,
                         method=live_capture(deps.settings, deps.asterisk.install))
    live = LiveTranscriber(speech.pool, deps.publish, trees.calls, tickets.store, capture=capture,
                           redis=deps.redis, node=deps.node)
    register_live_actions(routing.actions, live, trees.calls)
    return Live(transcriber=live, ami=[(live.EVENTS, live.on_ami_event)], closers=[live.close, live_audio.close])
