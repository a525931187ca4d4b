"""Phone-number normalisation and caller-list CSV parsing."""
from __future__ import annotations

from pathlib import Path

import pytest

from ivr import problems as P
from ivr.numbers import (
    CallerList,
    NumberError,
    caller_key,
    memberships,
    normalize_did,
    normalize_number,
    parse_caller_list,
    read_caller_list,
    try_normalize,
)

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("raw, expected", [
    ("13800001234", "13800001234"),
    ("+86 138 0000 1234", "13800001234"),
    ("+8613800001234", "13800001234"),
    ("0086-138-0000-1234", "13800001234"),
    ("8613800001234", "13800001234"),
    ("138-0000-1234", "13800001234"),
    ("(138) 0000 1234", "13800001234"),
    ("１３８００００１２３４", "13800001234"),  # full-width digits from a Chinese IME
    ("0731-22334455", "073122334455"),
    ("(0731) 2233 4455", "073122334455"),
    ("+86 731 2233 4455", "073122334455"),
    ("+86 10 12345678", "01012345678"),
    ("010-12345678", "01012345678"),
    ("12345", "12345"),
    ("110", "110"),
    ("95588", "95588"),
    ("400-123-4567", "4001234567"),
    ("+1 415 555 0100", "+14155550100"),
    ("00441234567890", "+441234567890"),
    ("22334455", "22334455"),
])
def test_normalize(raw, expected):
    assert normalize_number(raw) == expected


def test_local_numbers_take_an_area_code_when_given():
    assert normalize_number("2233-4455", area_code="0731") == "073122334455"


@pytest.mark.parametrize("raw", ["", "abc", "138O0001234", "1380000123", "138000012345", "12", "+1 23",
                                 "12345678901234567", "0", "9"])
def test_invalid_numbers(raw):
    with pytest.raises(NumberError) as err:
        normalize_number(raw)
    assert err.value.error_id == "bad_number"
    assert try_normalize(raw) is None


def test_caller_key_and_did():
    assert caller_key("anonymous") == "" and caller_key(None) == "" and caller_key("") == ""
    assert caller_key("+86 138 0000 1234") == "13800001234"
    assert caller_key("12") == "12"  # not a valid number, kept as digits
    assert normalize_did("+86 12345001") == "12345001" and normalize_did("12345-001") == "12345001"


def test_parse_list_with_header_comments_and_errors():
    text = "\ufeff# deputies\nnumber,name,note\n13800001001,张,a\nbad,李,\n\n+86 138 0000 1003,王,\n" \
           "13800001001,dup,\n,赵,\n"
    lst, problems = parse_caller_list(text, list_id="deputies")
    assert [e.number for e in lst.entries] == ["13800001001", "13800001003"]
    assert lst.entries[0].name == "张" and lst.entries[0].line == 3
    assert [(p.path, p.code) for p in problems] == [("lists.deputies.line.4", P.LIST_LINE),
                                                    ("lists.deputies.line.8", P.LIST_LINE)]
    assert problems[0].message.startswith("line 4:")


def test_parse_list_without_header_and_reordered_header():
    lst, problems = parse_caller_list("13800001001\n13800001002,刘\n", list_id="x")
    assert not problems and lst.numbers == {"13800001001", "13800001002"}
    lst, problems = parse_caller_list("姓名,号码\n张三,13800001001\n", list_id="x")
    assert not problems and lst.entries[0].name == "张三" and "13800001001" in lst.numbers
    _, problems = parse_caller_list("name,note\n张,x\n", list_id="x")
    assert problems and "no number column" in problems[0].message


def test_read_gb18030_list(tmp_path):
    path = tmp_path / "gbk.csv"
    path.write_bytes("号码,姓名\n13800001001,张代表\n".encode("gb18030"))
    lst, problems = read_caller_list(path, list_id="d")
    assert not problems and lst.entries[0].name == "张代表"


def test_sample_deputies_list_parses():
    root = Path(__file__).resolve().parents[2]
    lst, problems = read_caller_list(root / "config" / "lists" / "deputies.csv", list_id="deputies")
    assert problems == [] and len(lst.entries) == 12


def test_garbage_list_reports_each_line():
    _, problems = read_caller_list(DATA / "lists" / "garbage.csv", list_id="vips")
    assert [p.path for p in problems] == ["lists.vips.line.3", "lists.vips.line.6", "lists.vips.line.7",
                                          "lists.vips.line.10"]


def test_memberships():
    lists = {"deputies": CallerList.of("deputies", []), "vips": {"13800001001"}}
    lst, _ = parse_caller_list("+86 138 0000 1002\n", list_id="deputies")
    lists["deputies"] = lst
    assert memberships("008613800001002", lists) == {"deputies"}
    assert memberships("138-0000-1001", lists) == {"vips"}
    assert memberships("anonymous", lists) == frozenset()
    assert "+8613800001002" in lst


# ---------------------------------------------------------------- numbers at the edge (trunk caller ids, DIDs)

from ivr.numbers import WITHHELD, edge_caller  # noqa: E402


@pytest.mark.parametrize("raw, expected", [
    ("+8613900001111", "13900001111"),
    ("008613900001111", "13900001111"),
    ("8613900001111", "13900001111"),
    ("013900001111", "13900001111"),          # mobile with a trunk 0
    ("13900001111", "13900001111"),
    ("sip:+8613900001111@127.0.0.2", "13900001111"),
    ("07312233445", "07312233445"),
    ("0731-2233-4455", "073122334455"),
    ("+867312233445", "07312233445"),
    ("00867312233445", "07312233445"),
    ("+86 10 12345678", "01012345678"),
    ("01012345678", "01012345678"),          # Beijing landline: not a mobile with a 0
    ("12345", "12345"),
    ("+14155550100", "+14155550100"),
])
def test_edge_caller_forms(raw, expected):
    c = edge_caller(raw)
    assert (c.number, c.withheld) == (expected, False)


@pytest.mark.parametrize("raw", [None, "", " ", "anonymous", "Anonymous", "restricted", "unknown", "PRIVATE",
                                 "sip:anonymous@anonymous.invalid", "abc"])
def test_edge_caller_withheld(raw):
    assert edge_caller(raw) == WITHHELD


def test_edge_caller_local_number_takes_the_trunks_area_code():
    assert edge_caller("22334455", area_code="0731").number == "073122334455"
    assert edge_caller("22334455").number == "22334455"


def test_edge_caller_garbage_keeps_digits_only():
    c = edge_caller("12&Local/99;x")
    assert c.number == "1299" and not c.raw_valid and not c.withheld


def test_edge_forms_land_on_the_same_list_entry():
    lst, problems = parse_caller_list("+8613900001111,代表甲\n", list_id="deputies")
    assert not problems
    for raw in ("+8613900001111", "013900001111", "0086 139 0000 1111"):
        assert memberships(edge_caller(raw).number, {"deputies": lst}) == {"deputies"}


@pytest.mark.parametrize("raw, area, expected", [
    ("12345", None, "12345"), ("+8612345", None, "12345"), ("008612345", None, "12345"),
    ("+867312233445", None, "07312233445"), ("073112345", "0731", "12345"), ("12345001", None, "12345001"),
    ("sip:12345", None, "12345"),
])
def test_did_forms(raw, area, expected):
    assert normalize_did(raw, area_code=area) == expected


# ---------------------------------------------------------------- the one normaliser: kinds and problems

from ivr.numbers import NumberKind, NumberProblem, parse_number  # noqa: E402


@pytest.mark.parametrize("raw, area, number, kind", [
    ("138-0000-1234", None, "13800001234", NumberKind.MOBILE),
    ("013800001234", None, "13800001234", NumberKind.MOBILE),
    ("+86 731 2868 0001", None, "073128680001", NumberKind.LANDLINE),
    ("+86 0731 2868 0001", None, "073128680001", NumberKind.LANDLINE),   # a trunk 0 written anyway
    ("+86 400 123 4567", None, "4001234567", NumberKind.TOLL_FREE),     # not 0400...: no trunk 0
    ("800-800-1234", None, "8008001234", NumberKind.TOLL_FREE),
    ("12366", None, "12366", NumberKind.SERVICE),
    ("955880", None, "955880", NumberKind.SERVICE),
    ("2868 0001", None, "28680001", NumberKind.LOCAL),
    ("2868 0001", "0731", "073128680001", NumberKind.LANDLINE),
    ("9868 0001", "0731", "073198680001", NumberKind.LANDLINE),
    ("+44 20 7946 0000", None, "+442079460000", NumberKind.INTERNATIONAL),
])
def test_parse_number_gives_the_form_and_its_kind(raw, area, number, kind):
    got = parse_number(raw, area_code=area)
    assert (got.number, got.kind) == (number, kind)
    assert normalize_number(raw, area_code=area) == number


@pytest.mark.parametrize("raw, problem", [
    ("", NumberProblem.EMPTY),
    (" - ", NumberProblem.EMPTY),
    ("110@pstn", NumberProblem.NOT_DIGITS),
    ("٣٣٣٣٣٣٣", NumberProblem.NOT_DIGITS),          # digits of another script are not dialable
    ("12", NumberProblem.TOO_SHORT),
    ("+86 12", NumberProblem.TOO_SHORT),
    ("+86 2868 0001", NumberProblem.UNKNOWN_FORM),   # a local number has no international form
    ("+86 110", NumberProblem.UNKNOWN_FORM),
    ("0101234567", NumberProblem.UNKNOWN_FORM),      # a digit short of a Beijing landline
    ("1380000123", NumberProblem.UNKNOWN_FORM),
    ("+1 23", NumberProblem.BAD_INTERNATIONAL),
    ("00 1234 5678 9012 3456", NumberProblem.BAD_INTERNATIONAL),
])
def test_parse_number_says_why_a_value_is_not_a_number(raw, problem):
    with pytest.raises(NumberError) as err:
        parse_number(raw)
    assert err.value.problem is problem and err.value.error_id == "bad_number"
