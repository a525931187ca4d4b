"""Redis replies as text (kernel/redis_text.py): bytes decoded, text kept, anything else refused."""
from __future__ import annotations

import pytest

from kernel.redis_text import hash_fields, scored, text, text_map, text_or_none, texts


def test_text_decodes_bytes_and_keeps_text():
    assert text(b"\xe5\xbc\xa0") == "张" and text("张") == "张"
    assert text_or_none(None) is None and text_or_none(b"x") == "x"
    assert texts([b"a", "b"]) == ["a", "b"]


@pytest.mark.parametrize("value", [1, 1.5, None, [b"a"], {"a": "b"}])
def test_a_reply_that_is_not_a_string_is_refused(value):
    with pytest.raises(TypeError):
        text(value)


def test_hash_and_scored_replies():
    assert text_map({b"status": b"draft", "seat": "1001"}) == {"status": "draft", "seat": "1001"}
    assert text_map(None) == {} and text_map({}) == {}
    assert scored([(b"ZZ1", 1.5), ["ZZ2", 2]]) == [("ZZ1", 1.5), ("ZZ2", 2.0)]
    with pytest.raises(TypeError):
        scored([b"ZZ1"])                      # ZRANGE without WITHSCORES
    fields = {"status": "confirmed"}
    assert hash_fields(fields) is fields      # HSET takes the same mapping
