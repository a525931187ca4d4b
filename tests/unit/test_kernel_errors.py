"""One error base: every package's root error is a HotlineError with an id and a message, and keeps
its own constructor and text."""
import pytest

from agents.errors import AgentsError
from dialplan.publish import PublishError
from dialplan.template import TemplateError
from ivr.calendar import CalendarSpecError
from ivr.versions import VersionError
from kernel.errors import DomainError, HotlineError, ProcessError
from pbx.agi_errors import AGIError, AGIHangup
from pbx.ami import AMIError
from recordings.prompts import PromptError
from recordings.stt.errors import ModelNotFoundError, STTError
from recordings.tts import TTSError
from tickets.model import TicketsError
from web.accounts import AccountError


@pytest.mark.parametrize("err, error_id, message, text", [
    (DomainError("坏了", x=1), "error", "坏了", "坏了"),
    (AgentsError("坏了"), "agents_error", "坏了", "坏了"),
    (TicketsError("tickets.bad", "坏了", field="a"), "tickets.bad", "坏了", "tickets.bad: 坏了"),
    (VersionError("version.stale", "旧版本"), "version.stale", "旧版本", "旧版本"),
    (AGIError("agi.x", "failed", command="EXEC Dial"), "agi.x", "failed", "agi.x: failed [EXEC Dial]"),
    (AGIHangup(), "hangup", "", "hangup"),
    (AMIError("no", action="Originate"), "ami.error", "no", "[ami.error] Originate: no"),
    (AccountError("account.exists", "已存在"), "account.exists", "已存在", "account.exists: 已存在"),
    (ProcessError("redis", "down", "tail"), "process", "down", "redis: down\n--- log ---\ntail"),
    (PublishError("reload", "timeout"), "dialplan.publish", "timeout", "dialplan publish failed at reload: timeout"),
    (TemplateError("t.conf", ["A", "B"]), "dialplan.template", "t.conf: no value for A, B",
     "t.conf: no value for A, B"),
    (STTError("busy", n=2), "stt_error", "busy", "busy"),
    (PromptError("p", "missing"), "prompt", "missing", "prompt 'p': missing"),
    (TTSError("你好", "espeak"), "tts", "espeak", "text-to-speech failed for '你好': espeak"),
    (CalendarSpecError("bad day"), "ivr.calendar_spec", "bad day", "bad day"),
])
def test_roots_share_the_base_and_keep_their_text(err, error_id, message, text):
    assert isinstance(err, HotlineError)
    assert (err.error_id, err.message, str(err)) == (error_id, message, text)


def test_builtin_bases_kept_for_existing_handlers():
    assert isinstance(ProcessError("x", "y"), RuntimeError)
    assert isinstance(TemplateError("t", ["A"]), ValueError)
    assert isinstance(CalendarSpecError("x"), ValueError)


def test_stt_error_rebuilt_from_a_worker_keeps_id_and_message():
    err = STTError.from_dict(ModelNotFoundError("/x", "missing").to_dict())
    assert isinstance(err, ModelNotFoundError) and isinstance(err, HotlineError)
    assert (err.message, str(err)) == ("speech model /x: missing",) * 2 and err.details["path"] == "/x"
