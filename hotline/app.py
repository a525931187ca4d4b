"""The composition root: every service is built here and handed its
collaborators; nothing else creates clients.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from pathlib import Path

from redis.exceptions import RedisError

from agents.config import load_seats
from agents.delivery import DeliverySettings, Dispatcher, RoutedQueueRunner
from agents.errors import AgentsError
from agents.fallback_queue import FallbackQueueRunner
from agents.model import CallPhase
from agents.nodes import check_node, default_node
from agents.outbound import DialLimiter, Outbound
from agents.seat_out import SeatOutHandler
from agents.policy import Rules
from agents.secrets import seat_credentials
from agents.service import PBX_UNAVAILABLE, Router, SeatService, phone_state, seat_phone_states
from agents.store import RoutingStore
from agents.transfer import TransfersFile
from agents.transfer_service import TransferService
from dialplan.hotline import CALLBACK, DEMO_SEAT, LIVE_SPY
from dialplan.outbound import REFER_AGI, SEAT_OUT_AGI
from dialplan.seats import render_pjsip, seat_interface
from hotline.runtime import Runtime
from hotline.settings import Settings
from ivr.calls import CallRecords
from ivr.handler import IvrCallHandler
from ivr.notices import HolidayWatch
from ivr.problems import TreeInvalid
from ivr.trees import TreeSource
from ivr.versions import VersionError, VersionStore
from pbx.ami import AMIError, AMIEvent
from pbx.live_audio import LiveAudioServer, SpyCapture, install_script
from recordings.describe import DescribeToTicket
from recordings.keep import RecordingKeeper, sweep
from recordings.live import LiveTranscriber
from recordings.prompts import PromptResolver
from tickets.store import TicketStore

log = logging.getLogger("hotline.app")
EVENTS_CHANNEL = "hotline:live"


def data_dir(settings: Settings) -> Path:
    d = settings.path(settings.storage.data_dir)
    d.mkdir(parents=True, exist_ok=True)
    return d


async def _stt_pool(s: Settings):
    """The speech-to-text workers, when a model is configured (never downloaded)."""
    if not s.stt.model:
        log.info("speech-to-text off (no stt.model): drafts are filed without a transcript")
        return None
    from recordings.models import check_model_dir
    from recordings.stt import VoskEngineFactory
    from recordings.stt_pool import PoolConfig, STTPool

    model = check_model_dir(s.path(s.stt.model))          # a clear error for a wrong path
    pool = STTPool(VoskEngineFactory(str(model)), PoolConfig(workers=s.stt.workers))
    await pool.start()
    return pool


def controller_node(s: Settings) -> str:
    """This controller's id among those sharing the Redis (agents/nodes.py): ``routing.node``, else
    the host name and a digest of the data folder (the same again after a restart)."""
    if s.routing.node:
        return check_node(s.routing.node)
    return default_node(socket.gethostname(), str(data_dir(s).resolve()))


def make_wire(demo_seats: int = 0, demo_wrap_up_s: float | None = None):
    """demo_wrap_up_s: the demo seats' wrap-up after each call (None: the seats config's wrap_up_s);
    as for any seat, `hotline seats ready` or the console ends it early."""
    async def wire(rt: Runtime) -> dict:
        s = rt.settings
        base_dir = s.path("config")
        data = data_dir(s)
        versions = VersionStore(rt.redis, TreeSource.validator(base_dir), name=s.hotline.name)
        resolver = PromptResolver(rt.prompts, base_dir, uploads_dir=data / "prompts")
        trees = TreeSource(versions, base_dir, prewarm=resolver.prewarm)
        await trees.ensure_published(s.path(s.ivr.tree))
        pinned = await trees.current()        # parse and synthesise the prompts before calls arrive
        records = rt.records                  # the records database (hotline/records_up.py), or None
        calls = CallRecords(rt.redis, sink=records.writer.call if records else None)

        seats_cfg = load_seats(s.path(s.agents.seats), lanes=pinned.tree.lanes.keys())
        store = RoutingStore(rt.redis, seats_cfg)
        await store.load_scripts()
        router = Router(store, pinned.tree.lanes)
        node = controller_node(s)
        seat_service = SeatService(store, notify=router.poke, history=records.writer.seat if records else None)
        if records:
            records.writer.node = node
        demo = sorted(seats_cfg.seats)[:demo_seats]

        async def say(text: str) -> str:
            return str(await rt.prompts.ensure_async(text))

        async def publish(event: dict) -> None:
            with contextlib.suppress(RedisError):
                await rt.redis.publish(EVENTS_CHANNEL, json.dumps(event, ensure_ascii=False))

        delivery = DeliverySettings(
            ring_timeout_s=seats_cfg.ring_timeout_s, announce_every_s=seats_cfg.announce_every_s,
            callback_offer_after_s=seats_cfg.callback.offer_after_s, demo_seats=frozenset(demo),
            demo_wrap_up_s=demo_wrap_up_s,
            recordings_dir=s.recordings_dir, outbound_dial=s.transfer.dial, max_wait_s=s.agents.max_wait_s)
        callbacks: dict[str, str] = {}             # originate channel id -> call id
        outbound = Outbound(s.dialling.policy, DialLimiter(rt.redis))

        async def originate_callback(a) -> None:
            st = await router.call(a.call_id)
            raw = (st.callback_number or st.caller) if st else None
            verdict = await outbound.approve(raw, "callback", ref=a.call_id) if raw else None
            if verdict is None or not verdict.ok:      # refused numbers are never dialled (logged masked)
                await router.callback_failed(a.call_id)
                return
            number = verdict.number
            chan_id = f"cb-{a.call_id}-{int(asyncio.get_running_loop().time() * 1000)}"
            callbacks[chan_id] = a.call_id
            rec = delivery.recordings_dir / "calls" / a.call_id
            rec.parent.mkdir(parents=True, exist_ok=True)
            try:
                await rt.ami.originate(
                    seat_interface(a.seat_id, a.seat_id in delivery.demo_seats), context=CALLBACK, exten="s",
                    # (shown on the seat's phone; the citizen's leg presents the trunk's caller ID: hotline-out)
                    caller_id=f'"Callback" <{number}>', timeout_ms=delivery.ring_timeout_s * 1000,
                    channel_id=chan_id, variables={"CB_NUM": number, "CB_REC": str(rec),
                               "CB_CALL_ID": a.call_id, "CB_SEAT": a.seat_id})
            except BaseException:
                callbacks.pop(chan_id, None)         # never placed: the dispatcher puts the call back
                raise

        dispatcher = Dispatcher(router, node, originate=originate_callback)
        transfers = TransferService(rt.redis, None, router, calls, TransfersFile(base_dir / "transfers.yaml"),
                                    dial=s.transfer.dial, publish=publish,     # AMI: set in started()
                                    outbound=outbound, say=say)
        queue = RoutedQueueRunner(router, dispatcher, delivery, say, calls,
                                  FallbackQueueRunner(s.fallback.queue_timeout_s), publish=publish,
                                  transfers=transfers, outbound=outbound)
        pool = await _stt_pool(s)
        if pool is not None:
            rt.closers.append(pool.close)
        tickets = TicketStore(rt.redis, sink=records.writer.ticket if records else None,
                              seq_floor=records.ticket_seq_floor if records else None)
        describe = DescribeToTicket(tickets, calls, pool, publish=publish)
        rt.closers.insert(0, describe.close)
        live_stt = None
        if pool is not None and s.stt.live:      # the conversation, both directions, transcribed live
            live_audio = LiveAudioServer(s.stt.live_audio_host or s.network.host)
            await live_audio.start()
            capture = SpyCapture(lambda: rt.ami, live_audio, install_script(rt.run / "agi-bin"), LIVE_SPY)
            live_stt = LiveTranscriber(pool, publish, calls, tickets, capture=capture, redis=rt.redis, node=node)
            rt.closers[:0] = [live_stt.close, live_audio.close]
        keeper = RecordingKeeper(calls, s.recordings.compress,
                                 busy=lambda call_id: live_stt is not None and call_id in live_stt.active)
        rt.closers.insert(0, keeper.close)
        ivr = IvrCallHandler(trees, resolver, calls, queue, recordings_dir=s.recordings_dir, keeper=keeper, node=node,
                             transfer_dial=s.transfer.dial, silence=str(rt.prompts.silence(1)), sink=describe,
                             end_recording=lambda channel: rt.ami.receive_dtmf(channel, "#"),
                             media_received=lambda channel: rt.ami.rtp_received(channel), outbound=outbound)

        from web.live import live_routes
        from web.routes_console import console_routes
        from web.routes_vendor import vendor_routes
        from web.routes_wallboard import wallboard_routes

        live = live_routes(rt.redis, router=router)
        rt.web_routes += [console_routes(seat_service, router, tickets, calls),
                          wallboard_routes(router, rt.redis, tickets=tickets), live, vendor_routes()]
        from web.routes_supervise import supervise_routes
        rt.web_routes.append(supervise_routes(store, lambda: rt.ami, demo))
        from web.routes_reports import reports_routes
        rt.web_routes.append(reports_routes(router, tickets, rt.redis))
        if records:                               # reads that survive a Redis loss (PostgreSQL)
            from web.routes_records import records_routes

            rt.web_routes.append(records_routes(records.db.pool))
        rt.web_contexts.append(live.cleanup_ctx)
        from web.routes_transfer import transfer_routes
        rt.web_routes.append(transfer_routes(transfers, seat_service.store))
        from web.routes_admin_config import admin_config_routes
        from web.routes_admin_ivr import admin_ivr_routes

        rt.web_routes += [admin_ivr_routes(versions, base_dir, resolver),
                          admin_config_routes(versions, base_dir, s.path(s.agents.seats), base_dir / "transfers.yaml")]
        from web.routes_notices import notices_metrics, notices_routes

        holidays = HolidayWatch(trees, timezone=s.hotline.timezone)     # a year with no official schedule
        rt.web_routes.append(notices_routes(holidays.notices))
        rt.web_contexts.append(notices_metrics(holidays.notices))

        creds = seat_credentials(seats_cfg, data)
        rt.pjsip_seats = render_pjsip(creds, srtp=s.seats_sip.srtp, qualify_s=s.seats_sip.qualify_s)
        rt.seat_out = tuple((sid, seat_interface(sid, sid in delivery.demo_seats)) for sid in sorted(seats_cfg.seats))
        rt.fallback_members = tuple(seat_interface(sid, sid in delivery.demo_seats) for sid in sorted(seats_cfg.seats))
        rt.on_ami_reconnect = lambda: resync(rt)      # Asterisk restarted (or AMI lost): line Redis up again
        rt.services.update(versions=versions, trees=trees, calls=calls, prompts=resolver, router=router,
                           seats=seat_service, store=store, dispatcher=dispatcher, node=node,
                           seats_config=seats_cfg, demo_seats=demo, callbacks=callbacks, tickets=tickets,
                           transfers=transfers, holidays=holidays, outbound=outbound,
                           stt=pool, live_stt=live_stt, lanes_version=pinned.version)
        return {"ivr": ivr, SEAT_OUT_AGI: SeatOutHandler(outbound, say), REFER_AGI: transfers.refer}
    return wire


async def sweep_recordings(rt: Runtime, every_s: float = 6 * 3600) -> None:
    """Recordings older than recordings.retention_days are deleted (at start, then every few hours)."""
    root, days = rt.settings.recordings_dir, rt.settings.recordings.retention_days
    while True:
        removed = await asyncio.to_thread(sweep, root, days)
        if removed:
            log.info("recordings: %d file(s) older than %d days deleted", removed, days)
        await asyncio.sleep(every_s)


async def _import_redis_records(rt: Runtime) -> None:
    from records.upgrade import import_from_redis

    try:
        await import_from_redis(rt.redis, rt.records.writer, rt.records.db.pool)
    except Exception:                       # logged; it runs again at the next start
        log.exception("records: moving the Redis records into PostgreSQL failed")


async def started(rt: Runtime) -> None:
    """Everything is up: AMI event handlers, background loops, demo seats, resync."""
    router: Router = rt.services["router"]
    callbacks: dict[str, str] = rt.services["callbacks"]

    dial_status: dict[str, str] = {}           # callback channel id -> how its Dial to the citizen ended

    async def callback_over(uid: str) -> None:
        """A callback attempt's own channel is done: answered and talked, or failed.

        Its dialplan (seat first, then the citizen) does not always get to report
        the result (a Dial without `g` ends the channel when the citizen hangs up),
        so its hangup settles the attempt too; whichever comes first wins."""
        cid, status = callbacks.pop(uid, None), dial_status.pop(uid, "")
        st = await router.call(cid) if cid else None
        if st is None or not st.callback:
            return
        calls: CallRecords = rt.services["calls"]
        if st.phase == CallPhase.RINGING:              # the seat did not answer
            await router.requeue_front(cid)
        elif st.phase == CallPhase.ON_CALL:
            if status == "ANSWER":
                await router.ended(cid)
                await calls.update(cid, status="callback_connected", seat=st.seat_id, callback_at=time.time())
            elif not await router.callback_failed(cid):      # no retry left: on the callback list
                await calls.update(cid, status="missed")

    async def handle(e: AMIEvent) -> None:
        try:
            kind = e.get("UserEvent") if e.name == "UserEvent" else e.name
            if kind == "HotlineAnswered":
                st = await router.call(e.get("CallId", ""))
                if st is not None and st.phase == CallPhase.RINGING:
                    await router.answered(st.call_id, e.get("Seat") or None)
            elif kind in ("HotlineCallbackResult", "DialEnd"):     # on the callback's own channel
                dial_status[e.get("Uniqueid", "")] = e.get("Status" if kind != "DialEnd" else "DialStatus", "")
                if kind == "HotlineCallbackResult":
                    await callback_over(e.get("Uniqueid", ""))
            elif kind == "Hangup" or e.get("Response") == "Failure":   # OriginateResponse: the seat did not answer
                await callback_over(e.get("Uniqueid", ""))
        except (AgentsError, RedisError) as exc:
            log.warning("%s for call %s: %s", e.name, e.get("CallId") or callbacks.get(e.get("Uniqueid", "")), exc)

    def on_event(e: AMIEvent):
        """One subscription, so the events of a call are handled in the order Asterisk sent them."""
        if e.name == "UserEvent" and e.get("UserEvent") == "HotlineAnswered":
            return handle(e)
        if e.name in ("UserEvent", "DialEnd", "Hangup", "OriginateResponse") and e.get("Uniqueid", "") in callbacks:
            return handle(e)              # callbacks this controller placed (HotlineCallbackResult and the rest)
        return None

    rt.ami.on_event("*", on_event)
    if rt.records and rt.web_runner:             # the audit trail also into the records database
        from web.keys import AUDIT

        audit = rt.web_runner.app.get(AUDIT)
        if audit is not None:
            audit.sink = rt.records.writer.audit
    rt.services["transfers"].ami = rt.ami
    seats: SeatService = rt.services["seats"]
    phones = {seat_interface(sid, False): sid for sid in rt.services["seats_config"].seats
              if sid not in set(rt.services["demo_seats"])}

    async def phone_changed(e: AMIEvent) -> None:
        """A softphone seat unregisters (ready -> paused 离线) or registers again (-> ready)."""
        st, seat_id = phone_state(e.get("State")), phones[e.get("Device", "")]
        if st is not None:
            try:
                if st != PBX_UNAVAILABLE:                  # registered here: this node's seat
                    await seats.store.claim_seats(rt.services["node"], [seat_id])
                await seats.phone_changed(seat_id, st)
            except (AgentsError, RedisError) as exc:
                log.warning("seat %s phone %s: %s", seat_id, st, exc)

    rt.ami.on_event("DeviceStateChange", lambda e: phone_changed(e) if e.get("Device") in phones else None)
    rt.ami.on_event("*", rt.services["transfers"].on_ami_event)      # transfers and the seat's channel
    if rt.services.get("live_stt") is not None:      # both directions of answered calls, transcribed live
        rt.ami.on_event("*", rt.services["live_stt"].on_ami_event)
    node, dead_after_s = rt.services["node"], rt.settings.routing.dead_after_s
    await rt.services["store"].beat(node)       # alive before the resync: others leave our calls alone
    rt.background += [asyncio.create_task(router.run(), name="router"),
                      asyncio.create_task(router.keep_alive(node, dead_after_s), name="heartbeat"),
                      asyncio.create_task(rt.services["dispatcher"].run(), name="dispatcher"),
                      asyncio.create_task(follow_published_lanes(rt), name="lanes"),
                      asyncio.create_task(rt.services["holidays"].run(), name="holidays"),
                      asyncio.create_task(sweep_recordings(rt), name="recordings-retention")]
    if rt.records:          # the upgrade path: records an earlier version kept only in Redis, moved once
        rt.background.append(asyncio.create_task(_import_redis_records(rt), name="records-import"))
    cfg = rt.services["seats_config"]
    operators = list(cfg.operators)
    await resync(rt)              # first: a seat left "on call" by a controller that died is freed
    for seat_id, op in zip(rt.services["demo_seats"], operators):
        with contextlib.suppress(AgentsError):
            await seats.logout(seat_id)
        try:
            await seats.login(seat_id, op)
            await seats.store.claim_seats(node, [seat_id])
        except AgentsError as exc:            # e.g. still on a live call another controller holds
            log.warning("demo seat %s: not logged in again (%s)", seat_id, exc.error_id)


async def follow_published_lanes(rt: Runtime, interval_s: float = 1.0) -> None:
    """The Router decides with the lanes of the tree published now (priorities,
    overflow times), not only with those of the tree current at start.

    Lanes a newer tree dropped are kept (calls may still wait in them), with
    their last known settings. Checked every ``interval_s`` on every controller.
    """
    router: Router = rt.services["router"]
    trees: TreeSource = rt.services["trees"]
    seen = rt.services.get("lanes_version")
    task = asyncio.current_task()
    while True:
        if task is not None and task.cancelling():   # redis-py can swallow a cancel inside a command
            raise asyncio.CancelledError()
        try:
            number = await rt.services["versions"].current_number()
            if number is not None and number != seen:
                pinned = await trees.get(number)
                router.rules = Rules.build({**router.rules.lanes, **pinned.tree.lanes}, router.config)
                seen = rt.services["lanes_version"] = number
                router.poke()
                log.info("routing lanes from tree version %d: %s", number, ", ".join(
                    f"{ln.id} (priority {ln.priority}"
                    + (f", overflow after {ln.overflow.after_s} s to {ln.overflow.to})" if ln.overflow else ")")
                    for ln in router.rules.lanes.values()))
        except (RedisError, VersionError, TreeInvalid) as exc:
            log.warning("routing lanes not refreshed from the published tree: %s", exc)
        await asyncio.sleep(interval_s)


async def resync(rt: Runtime) -> None:
    """Line Redis up with what Asterisk has (after a controller or Asterisk restart):
    the channels up, and each seat's phone (device state; demo seats: their Local channels)."""
    router: Router = rt.services["router"]
    demo = set(rt.services["demo_seats"])
    seat_ids = list(rt.services["seats_config"].seats)
    try:
        # after a restart AMI answers before PJSIP is loaded; asked over the control socket (the
        # AMI user has no command class)
        if rt.asterisk is not None:
            await asyncio.to_thread(rt.asterisk.cli, "core waitfullybooted", 30.0)
        channels = await rt.ami.core_show_channels()
        devices = {sid: await rt.ami.device_state(seat_interface(sid, False)) for sid in seat_ids if sid not in demo}
    except AMIError as exc:
        log.warning("resync skipped: %s", exc)
        return
    live = {c.get("Uniqueid", "") for c in channels} | {c.get("Linkedid", "") for c in channels}
    pbx = seat_phone_states(seat_ids, demo, devices, [c.get("Channel", "") for c in channels], DEMO_SEAT)
    node = rt.services["node"]
    registered = [sid for sid in seat_ids if sid not in demo and pbx.get(sid) not in (None, PBX_UNAVAILABLE)]
    await router.store.claim_seats(node, registered)         # phones registered on our Asterisk
    report = await router.resync(live, pbx, node=node, dead_after_s=rt.settings.routing.dead_after_s)
    log.info("resync (phones %s): %s", pbx, report)


def compose(settings: Settings, run_dir: Path, demo_seats: int = 0, demo_wrap_up_s: float | None = None) -> Runtime:
    return Runtime(settings, run_dir, wire=make_wire(demo_seats, demo_wrap_up_s), started=started)


wire = make_wire(0)
