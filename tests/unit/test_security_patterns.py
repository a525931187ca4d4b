"""Issue #12 item 11: every whitelist pattern matches the whole value.

Python's `$` also matches before a trailing newline, so `re.match(r"^[0-9]+$", "110\n")`
passes; a newline in a transfer number breaks dial strings and generated PJSIP section names.
"""
from __future__ import annotations

import pytest

from agents.config import parse_seats
from agents.errors import ConfigInvalid
from agents.nodes import check_node
from agents.transfer import parse_transfers
from ivr.simulate import KeyScript
from web.accounts import AccountError, _link
from web.routes_transfer import _ID as TRANSFER_ID
from web.schema import check


@pytest.mark.parametrize("bad", ["110\n", "110\n\n", "\n110"])
def test_transfer_number_with_a_newline_is_refused(bad):
    with pytest.raises(ConfigInvalid) as e:
        parse_transfers({"targets": [{"id": "police", "name": "110", "number": bad}]})
    assert "targets.0.number" in "\n".join(e.value.problems)
    with pytest.raises(ConfigInvalid):
        parse_transfers({"targets": [{"id": "police\n", "name": "110", "number": "110"}]})


def test_seat_id_with_a_trailing_newline_is_refused():
    with pytest.raises(ConfigInvalid):
        parse_seats({"seats": [{"id": "1001\n"}]})


def test_account_links_with_a_trailing_newline_are_refused():
    with pytest.raises(AccountError):
        _link("8001\n", "operator_id")       # the operator id an account is linked to
    assert _link("8001", "operator_id") == "8001"


def test_api_schema_patterns_match_the_whole_value():
    # JSON Schema (ECMA-262) `$` is the end of the input; the validator must not let "\n" through
    assert check("1001", TRANSFER_ID) == []
    assert check("1001\n", TRANSFER_ID) != []
    assert check("2026-01-01\n", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}) != []
    assert check("a$b", {"type": "string", "pattern": r"^a[$]b$"}) == []     # `$` in a class is a dollar


def test_node_names_and_simulated_keys_match_the_whole_value():
    with pytest.raises(ValueError):
        check_node("ctl-a\n")
    with pytest.raises(ValueError):
        KeyScript("1,2\n")
