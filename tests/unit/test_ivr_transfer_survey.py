"""The operator's survey before a REFER's caller is bridged to the target (ivr/transfer_survey.py)."""
from types import SimpleNamespace

import pytest

from ivr.loader import load_data
from ivr.transfer_survey import ANNOUNCE, SurveyBeforeTransfer, survey_for
from pbx.agi_errors import AGIHangup
from tests.unit.fake_calls import MemoryCalls

DOC = {
    "version": 1, "name": "t", "entry": "menu",
    "lanes": {"general": {"label": "综合受理", "priority": 1}, "tax": {"label": "税务", "priority": 1}},
    "nodes": {
        "menu": {"type": "menu", "prompt": {"text": "请按键。"}, "options": {"1": "general_q", "2": "tax_q"},
                 "on_timeout": "general_q", "on_invalid": "general_q"},
        "general_q": {"type": "queue", "lane": "general", "after": "rate", "on_fail": "bye"},
        "tax_q": {"type": "queue", "lane": "tax", "after": "bye", "on_fail": "bye"},
        "rate": {"type": "survey", "prompt": {"text": "满意请按1，不满意请按2。"},
                 "choices": {"1": "满意", "2": "不满意"}, "timeout_s": 4, "next": "bye"},
        "bye": {"type": "hangup"},
    },
}


@pytest.fixture
def tree():
    return load_data(DOC).require()


def test_the_survey_is_the_one_after_the_calls_queue(tree):
    assert survey_for(tree, ["menu", "general_q"])[0] == "rate"
    assert survey_for(tree, ["menu", "tax_q"]) is None              # its queue ends without a survey
    assert survey_for(tree, ["menu"]) is None
    assert survey_for(tree, ["menu", "gone_node", "general_q"])[0] == "rate"


class Session:
    def __init__(self, key="", hang_up=False):
        self.key, self.hang_up = key, hang_up
        self.played: list[tuple[str, object]] = []

    async def stream_file(self, name, escape_digits=""):
        self.played.append(("stream", name))
        return ""

    async def get_data(self, prompt, timeout_ms=None, max_digits=None):
        self.played.append(("get_data", (prompt, timeout_ms, max_digits)))
        if self.hang_up:
            raise AGIHangup("caller hung up")
        return self.key, not self.key


def Calls(rec) -> MemoryCalls:          # noqa: N802 - the record of call c1
    return MemoryCalls({"c1": rec})


def written(calls: MemoryCalls) -> list[dict]:
    return [fields for _, fields in calls.updates]


class Prompts:
    async def resolve_async(self, prompt):
        return f"say:{prompt.text}"


def survey(tree, rec):
    async def get(version):
        assert version == 7
        return SimpleNamespace(tree=tree)
    calls = Calls(rec)
    return SurveyBeforeTransfer(SimpleNamespace(get=get), Prompts(), calls), calls


@pytest.mark.parametrize("key, result, rating", [("1", "rated", "1"), ("", "no_key", None), ("9", "invalid_key", None)])
async def test_the_caller_is_asked_once_then_transferred(tree, key, result, rating):
    ask, calls = survey(tree, {"version": "7", "path": ["menu", "general_q"]})
    s = Session(key)
    got = await ask(s, "c1")
    assert s.played == [("stream", f"say:{ANNOUNCE}"), ("get_data", ("say:满意请按1，不满意请按2。", 4000, 1))]
    want = {"survey_when": "before_transfer", "survey_node": "rate", "survey_result": result}
    if rating:
        want["rating"] = rating
    assert written(calls) == [want] and got == want


async def test_no_survey_in_the_tree_is_recorded_and_nothing_is_asked(tree):
    ask, calls = survey(tree, {"version": "7", "path": ["menu", "tax_q"]})
    s = Session("1")
    await ask(s, "c1")
    assert s.played == []
    assert written(calls) == [{"survey_when": "before_transfer", "survey_result": "skipped", "survey_reason": "no_survey"}]


async def test_a_caller_who_hangs_up_during_the_survey(tree):
    ask, calls = survey(tree, {"version": "7", "path": ["menu", "general_q"]})
    with pytest.raises(AGIHangup):
        await ask(Session(hang_up=True), "c1")
    assert written(calls) == [{"survey_when": "before_transfer", "survey_node": "rate", "survey_result": "skipped",
                              "survey_reason": "caller_hangup"}]
