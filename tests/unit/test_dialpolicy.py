"""The dialling policy (pure): canonical forms, refusals and what the caller hears."""
from __future__ import annotations

import pytest

from agents.dialpolicy import PROMPTS, DialPolicy, Refusal, check, is_canonical, normalise
from ivr.numbers import NumberError, normalize_number

P = DialPolicy(area_code="0731")


@pytest.mark.parametrize("raw, number, kind", [
    ("13800001234", "13800001234", "mobile"),
    ("+8613800001234", "13800001234", "mobile"),
    ("008613800001234", "13800001234", "mobile"),
    ("8613800001234", "13800001234", "mobile"),
    ("013800001234", "13800001234", "mobile"),          # a mobile dialled with the trunk prefix
    ("073128680001", "073128680001", "landline"),
    ("+8673128680001", "073128680001", "landline"),
    ("008673128680001", "073128680001", "landline"),
    ("01088886666", "01088886666", "landline"),
    ("+861088886666", "01088886666", "landline"),
    ("28680001", "073128680001", "landline"),            # local: the site's area code added
    ("2868001", "07312868001", "landline"),
    ("110", "110", "service"),
    ("119", "119", "service"),
    ("120", "120", "service"),
    ("122", "122", "service"),
    ("12345", "12345", "service"),
    ("12366", "12366", "service"),
    ("95588", "95588", "service"),
    ("4008001234", "4008001234", "toll_free"),
    ("8008001234", "8008001234", "toll_free"),
])
def test_allowed_numbers_in_canonical_form(raw, number, kind):
    v = check(P, raw)
    assert v.ok, v
    assert (v.number, v.kind) == (number, kind)
    assert v.prompt == ""
    assert is_canonical(v.number)


@pytest.mark.parametrize("raw, why", [
    ("4444&Local/5555", Refusal.NOT_DIGITS),
    ("1380000,,,,1234", Refusal.NOT_DIGITS),
    ("13800001234,tT", Refusal.NOT_DIGITS),
    ("110/n", Refusal.NOT_DIGITS),
    ("110@from-pstn", Refusal.NOT_DIGITS),
    ("PJSIP/110", Refusal.NOT_DIGITS),
    ("138 0000 1234", Refusal.NOT_DIGITS),
    ("138-0000-1234", Refusal.NOT_DIGITS),
    ("110\n", Refusal.NOT_DIGITS),
    ("110\r\nAction: Originate", Refusal.NOT_DIGITS),
    ("１３８００００１２３４", Refusal.NOT_DIGITS),           # full-width digits are not ASCII digits
    ("*110", Refusal.NOT_DIGITS),
    ("008821234567#", Refusal.NOT_DIGITS),
    ("1+10", Refusal.NOT_DIGITS),
    ("", Refusal.EMPTY),
    (None, Refusal.EMPTY),
    ("1" * 40, Refusal.TOO_LONG),
    ("1" * 21, Refusal.TOO_LONG),
    ("008821234567", Refusal.INTERNATIONAL),              # satellite (premium international)
    ("0044207946000", Refusal.INTERNATIONAL),
    ("+442079460000", Refusal.INTERNATIONAL),
    ("+85221234567", Refusal.INTERNATIONAL),               # Hong Kong: not domestic dialling
    ("16812345678", Refusal.PREMIUM),                       # 168 voice information
    ("12590", Refusal.PREMIUM),
    ("12", Refusal.TOO_SHORT),
    ("1380000123", Refusal.UNKNOWN_FORM),                   # a digit short of a mobile
    ("138000012345", Refusal.UNKNOWN_FORM),
    ("0123", Refusal.UNKNOWN_FORM),
    ("+860073128680001", Refusal.UNKNOWN_FORM),
    ("1234567", Refusal.UNKNOWN_FORM),                      # local numbers do not start with 1
])
def test_refused_numbers_and_why(raw, why):
    v = check(P, raw)
    assert not v.ok
    assert v.refusal == why
    assert v.prompt == PROMPTS[why]
    assert not v.limited


def test_every_refusal_has_a_chinese_prompt():
    for r in Refusal:
        assert PROMPTS[r] and any("\u4e00" <= ch <= "\u9fff" for ch in PROMPTS[r])


def test_listed_prefixes_open_international_and_premium_and_deny_closes():
    p = DialPolicy(allow_prefixes=("00852", "168"), deny_prefixes=("0731286800",))
    assert check(p, "+85221234567").ok and check(p, "+85221234567").number == "0085221234567"
    assert check(p, "16812345678").ok
    assert check(p, "0044207946000").refusal == Refusal.INTERNATIONAL
    assert check(p, "28680001").refusal == Refusal.DENIED


def test_area_code_of_the_site():
    assert check(DialPolicy(area_code="010"), "88886666").number == "01088886666"
    with pytest.raises(ValueError):
        DialPolicy(area_code="731")
    with pytest.raises(ValueError):
        DialPolicy(allow_prefixes=("00&",))


def test_service_numbers_are_not_limited_others_are():
    assert not check(P, "110").limited
    assert check(P, "13800001234").limited
    assert check(P, "28680001").limited


def test_normalise_never_returns_anything_but_digits():
    for raw in ("+8613800001234", "0086 138", "13800001234\x00", "٣٣٣٣٣٣٣", "13800001234"):
        got = normalise(raw)
        assert isinstance(got, Refusal) or is_canonical(got[0])


def test_from_mapping_reads_the_settings_section():
    p = DialPolicy.from_mapping({"area_code": "0731", "allow_prefixes": ["00852"], "per_number_per_hour": 3,
                                 "per_hour": 50})
    assert p.allow_prefixes == ("00852",) and p.per_number_per_hour == 3 and p.per_hour == 50
    with pytest.raises(ValueError):
        DialPolicy.from_mapping({"allow_prefixes": "00852"})


@pytest.mark.parametrize("raw, number, kind", [
    ("+86073128680001", "073128680001", "landline"),      # a trunk 0 after +86, as the caller lists take it
    ("+864001234567", "4001234567", "toll_free"),
    ("+8601088886666", "01088886666", "landline"),
])
def test_plus_86_forms_are_the_caller_lists_forms(raw, number, kind):
    v = check(P, raw)
    assert v.ok and (v.number, v.kind) == (number, kind)


@pytest.mark.parametrize("raw, why", [
    ("+1", Refusal.INTERNATIONAL),                         # too short for a number abroad: refused as one
    ("+8628680001", Refusal.UNKNOWN_FORM),                 # a local number has no +86 form
    ("+86110", Refusal.UNKNOWN_FORM),
    ("+8612", Refusal.TOO_SHORT),
    ("0101234567", Refusal.UNKNOWN_FORM),
])
def test_refusals_come_from_the_one_normaliser(raw, why):
    assert check(P, raw).refusal == why
    p = DialPolicy(allow_prefixes=("001",))
    assert not check(p, "+1").ok                           # listed, but still not a number


@pytest.mark.parametrize("raw", [
    "13800001234", "+8613800001234", "013800001234", "073128680001", "+8673128680001", "28680001",
    "110", "12345", "95588", "4008001234", "+442079460000", "0044207946000", "16812345678", "+861", "12",
    "1380000123", "0123", "+860073128680001",
])
def test_dial_policy_and_caller_lists_agree_on_every_number(raw):
    """One normaliser: what a caller list stores is what the policy dials (00 for +), refused alike."""
    got = normalise(raw, "0731")
    try:
        listed = normalize_number(raw, area_code="0731")
    except NumberError:
        assert isinstance(got, Refusal)
    else:
        assert not isinstance(got, Refusal) and got[0] == listed.replace("+", "00", 1)


def test_only_ascii_digits_are_dialled_though_caller_lists_take_separators():
    assert normalize_number("138 0000 1234") == "13800001234"
    assert normalise("138 0000 1234") == Refusal.NOT_DIGITS
