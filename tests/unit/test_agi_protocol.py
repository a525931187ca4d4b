"""FastAGI wire format: reply parsing, argument quoting, command lines, the environment.

Reply and header samples are the exact bytes Asterisk 16.28 sent to a
recording FastAGI server on this machine.
"""
from __future__ import annotations

import pytest

from pbx.agi import (
    MAX_COMMAND_BYTES,
    AGIArgumentError,
    AGIError,
    AGIProtocolError,
    build_command,
    parse_environment,
    parse_header_line,
    parse_reply,
    quote_arg,
)

# --------------------------------------------------------------------------- replies


@pytest.mark.parametrize("line, result, data, extras", [
    ("200 result=0", "0", None, {}),
    ("200 result=1", "1", None, {}),
    ("200 result=-2", "-2", None, {}),                                   # EXEC: no such application
    ("200 result=0 endpos=3520", "0", None, {"endpos": "3520"}),         # STREAM FILE played to the end
    ("200 result=53 endpos=10240", "53", None, {"endpos": "10240"}),     # interrupted by "5"
    ("200 result=-1 endpos=0", "-1", None, {"endpos": "0"}),             # missing file (channel alive)
    ("200 result=-1 (hangup) endpos=0", "-1", "hangup", {"endpos": "0"}),  # RECORD FILE
    ("200 result=0 (timeout) endpos=16000", "0", "timeout", {"endpos": "16000"}),
    ("200 result=35 (dtmf) endpos=8000", "35", "dtmf", {"endpos": "8000"}),
    ("200 result=12", "12", None, {}),                                   # GET DATA, ended by #
    ("200 result=12 (timeout)", "12", "timeout", {}),
    ("200 result= (timeout)", "", "timeout", {}),                        # GET DATA, no digit at all
    ("200 result=1 (张三)", "1", "张三", {}),                             # GET VARIABLE CALLERID(name)
    ("200 result=1 ()", "1", "", {}),                                    # variable set to ""
    ("200 result=1 (a(b)c)", "1", "a(b)c", {}),
    ("200 result=1 (中文 a\"b\\c (x) endpos=5))", "1", "中文 a\"b\\c (x) endpos=5)", {}),
    ("200 result=1 (speech) endpos=0 results=1 score0=900", "1", "speech",
     {"endpos": "0", "results": "1", "score0": "900"}),
    ("200 result=0 Gosub complete", "0", "Gosub complete", {}),          # free text is kept as data
])
def test_parse_200_replies(line, result, data, extras):
    r = parse_reply([line])
    assert (r.code, r.result, r.data, dict(r.extras), r.raw) == (200, result, data, extras, line)


def test_result_int():
    assert parse_reply(["200 result=-1 endpos=0"]).result_int == -1
    assert parse_reply(["200 result=53 endpos=1"]).result_int == 53
    with pytest.raises(AGIProtocolError) as e:
        parse_reply(["200 result= (timeout)"]).result_int  # noqa: B018
    assert e.value.error_id == "result_not_integer"


def test_parse_error_replies():
    r = parse_reply(["510 Invalid or unknown command"])
    assert (r.code, r.result, r.data) == (510, "", "Invalid or unknown command")
    r = parse_reply(["511 Command Not Permitted on a dead channel or intercept routine"])
    assert r.code == 511 and r.data.startswith("Command Not Permitted")


def test_parse_multiline_520():
    lines = [
        "520-Invalid command syntax.  Proper usage follows:",
        "Send the given file, allowing playback to be interrupted by the given digits, if any.",
        "<variable>PLAYBACKSTATUS</variable>: The status of the playback attempt as a text string.",
        "    <value>SUCCESS</value>",
        "520 End of proper usage.",
    ]
    r = parse_reply(lines)
    assert r.code == 520
    assert r.data == "\n".join(lines[1:-1])
    assert r.raw == "\n".join(lines)


def test_parse_single_line_520():
    r = parse_reply(["520 Invalid command syntax.  Proper usage not available."])
    assert r.code == 520 and "not available" in r.data


@pytest.mark.parametrize("lines", [
    [],
    ["HELLO"],
    ["20 result=1"],
    ["200 foo=1"],
    ["200result=1"],
    ["520-Invalid command syntax.  Proper usage follows:", "usage"],    # unterminated
    ["200 result=1", "200 result=1"],
])
def test_malformed_replies(lines):
    with pytest.raises(AGIProtocolError):
        parse_reply(lines)


# --------------------------------------------------------------------------- quoting


def asterisk_split(line: str) -> list[str]:
    """How res_agi splits a command line into arguments (written from its documented
    behaviour and checked on Asterisk 16): blanks separate, '"' groups, '\\' makes the
    next character literal and is dropped."""
    args: list[str] = []
    cur: str | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and cur is None:
                cur = ""
            continue
        if ch in " \t" and not quoted and not escaped:
            if cur is not None:
                args.append(cur)
                cur = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        cur = (cur or "") + ch
        escaped = False
    if cur is not None:
        args.append(cur)
    return args


@pytest.mark.parametrize("value, quoted", [
    ("hello", '"hello"'),
    ("", '""'),
    ("two words", '"two words"'),
    ("您好，这里是株洲12345热线", '"您好，这里是株洲12345热线"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("C:\\path\\x", '"C:\\\\path\\\\x"'),
    ("tab\there", '"tab\there"'),
    ("${CALLERID(num)}", '"${CALLERID(num)}"'),
])
def test_quote_arg(value, quoted):
    assert quote_arg(value) == quoted


@pytest.mark.parametrize("value", [
    "hello", "", " ", "two  spaces ", "中文 a\"b\\c (x) endpos=5)", '"', "\\", "\\\"", 'end\\', "a\tb",
    "张三,李四", "'single'", "trailing backslash\\\\",
])
def test_quoted_arguments_survive_asterisk_splitting(value):
    line = build_command(["SET", "VARIABLE", quote_arg("X"), quote_arg(value)])
    assert asterisk_split(line) == ["SET", "VARIABLE", "X", value]


def test_asterisk_splitting_matches_what_asterisk_did():
    # Sent to Asterisk 16.28, then read back with GET VARIABLE:
    assert asterisk_split('SET VARIABLE "T1" "中文 a\\"b\\\\c (x) endpos=5)"')[3] == '中文 a"b\\c (x) endpos=5)'
    assert asterisk_split('SET VARIABLE T3 "line\\nx"')[3] == "linenx"
    assert asterisk_split('SET VARIABLE T2 ""')[3] == ""


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "end\n", "nul\0"])
def test_quote_arg_rejects_line_breaks(value):
    with pytest.raises(AGIArgumentError) as e:
        quote_arg(value)
    assert e.value.error_id == "newline_in_argument"
    assert isinstance(e.value, ValueError) and isinstance(e.value, AGIError)


def test_build_command_rejects_raw_newline_and_empty():
    with pytest.raises(AGIArgumentError):
        build_command(["VERBOSE", "a\nANSWER"])
    with pytest.raises(AGIArgumentError):
        build_command([])


def test_build_command_length_limit_in_bytes():
    prefix = 'SET VARIABLE B "'
    fits = prefix + "y" * (MAX_COMMAND_BYTES - len(prefix) - 1) + '"'
    assert len(build_command([fits]).encode()) == MAX_COMMAND_BYTES
    with pytest.raises(AGIArgumentError) as e:
        build_command([fits + "y"])
    assert e.value.error_id == "command_too_long"
    # Chinese counts 3 bytes per character
    n = (MAX_COMMAND_BYTES - len(prefix) - 1) // 3 + 1
    with pytest.raises(AGIArgumentError):
        build_command([prefix + "中" * n + '"'])


def test_error_message_masks_numbers():
    err = AGIError("x", command='SET VARIABLE CALLER "13800001234"')
    assert "13800001234" not in str(err) and "138****1234" in str(err)
    assert err.command.endswith('"13800001234"')      # the attribute keeps the real text


# --------------------------------------------------------------------------- environment

ASTERISK16_HEADER = """\
agi_network: yes
agi_network_script: ivr/sub?x=1&tree=3
agi_request: agi://127.0.0.1:14599/ivr/sub?x=1&tree=3
agi_channel: Local/s@caller-00000000;1
agi_language: en
agi_type: Local
agi_uniqueid: 1795321384.0
agi_version: 16.28.0~dfsg-0+deb11u10
agi_callerid: 13800001234
agi_calleridname: 张三
agi_callingpres: 0
agi_callingani2: 0
agi_callington: 0
agi_callingtns: 0
agi_dnid: unknown
agi_rdnis: unknown
agi_context: agi-test
agi_extension: s
agi_priority: 4
agi_enhanced: 0.0
agi_accountcode:
agi_threadid: 140081584314048
agi_arg_1: arg one
agi_arg_2: 参数二
agi_arg_3: """.split("\n")


def test_environment_from_asterisk16_header():
    env = parse_environment(ASTERISK16_HEADER)
    assert env.network_script == "ivr/sub"
    assert dict(env.network_query) == {"x": "1", "tree": "3"}
    assert env.request == "agi://127.0.0.1:14599/ivr/sub?x=1&tree=3"
    assert env.channel == "Local/s@caller-00000000;1"
    assert env.uniqueid == "1795321384.0"
    assert env.linkedid is None
    assert env.callerid == "13800001234"
    assert env.calleridname == "张三"
    assert env.dnid == "" and env.rdnis == ""          # "unknown" from Asterisk
    assert (env.context, env.extension, env.priority) == ("agi-test", "s", 4)
    assert env.arguments == ("arg one", "参数二", "")
    assert env.raw["agi_accountcode"] == ""
    assert env.get("language") == "en" and env.get("agi_type") == "Local"


@pytest.mark.parametrize("script_line, url, expected", [
    ("agi_network_script: ivr", "agi://127.0.0.1:4573/ivr", "ivr"),
    ("agi_network_script: ivr/", "agi://127.0.0.1:4573/ivr/", "ivr"),
    ("agi_network_script: ivr?lang=zh", "agi://127.0.0.1:4573/ivr?lang=zh", "ivr"),
    (None, "agi://127.0.0.1:4573/survey?x=1", "survey"),     # header missing: taken from the request
    (None, "agi://127.0.0.1:4573", ""),
])
def test_network_script(script_line, url, expected):
    lines = ["agi_network: yes"] + ([script_line] if script_line else []) + [f"agi_request: {url}"]
    assert parse_environment(lines).network_script == expected


def test_linkedid_when_present():
    env = parse_environment(["agi_request: agi://h/ivr", "agi_linkedid: 17.5"])
    assert env.linkedid == "17.5"


def test_header_line_parsing():
    assert parse_header_line("agi_callerid: 13800001234") == ("agi_callerid", "13800001234")
    assert parse_header_line("agi_accountcode: ") == ("agi_accountcode", "")
    assert parse_header_line("agi_accountcode:") == ("agi_accountcode", "")
    assert parse_header_line("agi_arg_1: a: b") == ("agi_arg_1", "a: b")
    for bad in ["garbage", "callerid: 1", "agi callerid: 1", "\x00\x01agi_x: 1", "agi_x 1"]:
        with pytest.raises(AGIProtocolError):
            parse_header_line(bad)


def test_environment_needs_request():
    with pytest.raises(AGIProtocolError) as e:
        parse_environment(["agi_network: yes", "agi_channel: x"])
    assert e.value.error_id == "header_incomplete"
