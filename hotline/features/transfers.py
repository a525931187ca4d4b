"""Transfers: a seat hands its caller to another seat or an outside number
(blind or consulted), from the console or the phone's REFER."""
from __future__ import annotations

from dataclasses import dataclass

from agents.node_actions import NodeActions
from agents.transfer import TransfersFile
from agents.transfer_service import TransferService
from hotline.features.base import Deps, Feature
from hotline.features.ivr import Trees
from hotline.features.routing import Routing
from ivr.transfer_survey import SurveyBeforeTransfer
from pbx.contract import AGI_REFER
from web.routes_transfer import transfer_routes


@dataclass(kw_only=True)
class Transfers(Feature):
    service: TransferService


def register_actions(actions: NodeActions, service: TransferService) -> None:
    """The node actions "transfer" and "hangup": the call's node runs them on its own Asterisk."""

    async def transfer(p: dict[str, str]) -> object:
        t = await service.request(p.get("call_id"), p["seat"], p["by"], p["target"], p.get("mode"))
        return t.to_dict()

    async def hangup(p: dict[str, str]) -> object:
        return await service.hangup(p.get("call_id"), p["seat"], p["leg"])

    actions.register("transfer", transfer)
    actions.register("hangup", hangup)


def load(deps: Deps, trees: Trees, routing: Routing) -> Transfers:
    s = deps.settings
    service = TransferService(deps.redis, deps.ami, routing.router, trees.calls,
                              TransfersFile(deps.config_dir / "transfers.yaml"), dial=s.transfer.dial,
                              publish=deps.publish, outbound=routing.outbound, say=deps.say,
                              # a REFER's caller never comes back to the IVR: rates the operator first
                              survey=SurveyBeforeTransfer(trees.trees, trees.prompts, trees.calls))

    register_actions(routing.actions, service)           # run on the node holding the call
    return Transfers(service=service, agi={AGI_REFER: service.refer},
                     ami=[(service.EVENTS, service.on_ami_event)],          # transfers and the seat's channel
                     routes=[transfer_routes(service, routing.store, routing.actions)])
