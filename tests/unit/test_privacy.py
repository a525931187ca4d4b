from kernel.privacy import mask_name, mask_number, mask_text


def test_mask_number_keeps_prefix_and_last_four():
    assert mask_number("13800001234") == "138****1234"
    assert mask_number("073122334455") == "073*****4455"
    assert mask_number(None) == "-"


def test_mask_name_keeps_family_name():
    assert mask_name("张三丰") == "张**"


def test_mask_text_masks_every_long_number():
    assert mask_text("来电 13800001234 回拨 18601200909") == "来电 138****1234 回拨 186****0909"


def test_mask_text_leaves_asterisk_channel_names_readable():
    assert mask_text("Local/12345@from-pstn-00000001;1") == "Local/12345@from-pstn-00000001;1"
    assert mask_text("PJSIP/seat1001-0000002a") == "PJSIP/seat1001-0000002a"
    assert mask_text("号码-13800001234") == "号码-138****1234"


def test_mask_text_masks_numbers_written_in_groups():
    # issue #12 item 10: separators used to hide a number from the masking
    for raw in ("0731-22334455", "138-0000-1234", "138 0000 1234", "+86 138 0000 1234", "(0731) 2233 4455"):
        masked = mask_text(f"来电 {raw} 回拨")
        assert "2233" not in masked and "0000" not in masked, (raw, masked)
        assert masked.startswith("来电 ") and masked.endswith(" 回拨")
    assert mask_text("0731-22334455") == "073*****4455"
    assert mask_text("138 0000 1234") == "138****1234"


def test_mask_text_leaves_dates_times_and_short_ids_readable():
    line = "2026-12-03 07:17:31 seat 1001 call abc-0000002a took 12 s"
    assert mask_text(line) == line


def test_uniqueids_stay_readable_numbers_beside_them_do_not():
    """A log line ties a call together by its uniqueid (Unix seconds, a dot, a sequence); a caller's
    number next to it is still masked, also when a sentence ends with a full stop."""
    from kernel.privacy import mask_text

    line = "call 1764777601.123 (node1-1764777602.7) from 13800001234. to 0731-22334455"
    assert mask_text(line) == "call 1764777601.123 (node1-1764777602.7) from 138****1234. to 073*****4455"
    assert mask_text("13800001234.5") != "13800001234.5"
