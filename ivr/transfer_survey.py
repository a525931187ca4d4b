"""The satisfaction survey of a call its operator blind-transfers from the phone (SIP REFER).

The survey rates the 12345 operator's handling of the call, and it is the
centre's own measure (满意率): it must not be lost when the operator hands the
caller on with the phone's transfer key. After a REFER the caller's channel
never comes back to the IVR (it goes to ``hotline-refer``, dials the target and
is hung up when the target's call ends), so the survey the call's queue node
leads to (its ``after`` node, when that is a survey) is asked *before* the
caller is bridged to the target: "即将为您转接" and the survey's own prompt,
one attempt with its timeout, any key or none, then the transfer goes on. The
caller is never kept from the target longer than that one prompt and timeout.

What happened is on the call record: ``rating`` (the key, as records/ read
it), ``survey_when`` = ``before_transfer``, ``survey_node``, ``survey_result``
= ``rated`` | ``no_key`` | ``invalid_key`` | ``skipped`` and, when skipped,
``survey_reason``: ``no_survey`` (the tree has no survey after the call's
queue) or ``caller_hangup``.

A blind transfer from the console is different: the caller's own IVR session
dials the target and comes back to the IVR when the target hangs up, so the
tree's survey follows as after any answered call.
"""
from __future__ import annotations

import logging
from typing import Any

from ivr.model import Prompt, QueueNode, SurveyNode, Tree
from pbx.agi_errors import AGIHangup

log = logging.getLogger("hotline.ivr.transfer_survey")

ANNOUNCE = "即将为您转接。"


def survey_for(tree: Tree, path: list[str]) -> tuple[str, SurveyNode] | None:
    """The survey the call's (latest) queue node goes to after the operator, if any (pure)."""
    for node_id in reversed(path):
        node = tree.nodes.get(node_id)
        if isinstance(node, QueueNode):
            after = tree.nodes.get(node.after) if node.after else None
            return (node.after, after) if isinstance(after, SurveyNode) and node.after else None
    return None


class SurveyBeforeTransfer:
    def __init__(self, trees, prompts, calls) -> None:
        self.trees = trees        # ivr.trees.TreeSource: the version the call was pinned to
        self.prompts = prompts    # recordings.prompts.PromptResolver
        self.calls = calls        # ivr.calls.CallRecords

    async def __call__(self, session, call_id: str) -> dict[str, Any]:
        """Ask the survey on the caller's channel (``session``); what was recorded on the call."""
        rec = await self.calls.record(call_id)
        found = None
        try:
            if rec is not None and rec.version:
                found = survey_for((await self.trees.get(rec.version)).tree, list(rec.path))
        except (LookupError, ValueError) as exc:
            log.warning("call %s: no tree for the survey before the transfer (%s)", call_id, exc)
        if found is None:
            return await self._note(call_id, "skipped", reason="no_survey")
        node_id, node = found
        try:
            await session.stream_file(await self.prompts.resolve_async(Prompt(text=ANNOUNCE)))
            key, _ = await session.get_data(await self.prompts.resolve_async(node.prompt),
                                            timeout_ms=node.timeout_s * 1000, max_digits=1)
        except AGIHangup:
            await self._note(call_id, "skipped", node=node_id, reason="caller_hangup")
            raise
        if key and key in node.choices:
            return await self._note(call_id, "rated", node=node_id, rating=key)
        return await self._note(call_id, "invalid_key" if key else "no_key", node=node_id)

    async def _note(self, call_id: str, result: str, **what: str) -> dict[str, Any]:
        fields: dict[str, Any] = await self.calls.surveyed(call_id, result, **what)
        log.info("call %s: survey before the REFER transfer: %s", call_id, result)
        return fields
