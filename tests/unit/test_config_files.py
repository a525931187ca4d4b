"""The admin-kept configuration files behind their services (agents.config_files,
ivr.config_files): checked with the controller's readers, written atomically, confined
to the configuration folder; real files in a temporary folder."""
import shutil
from pathlib import Path

import pytest
import yaml

from agents.config_files import AgentFiles
from ivr.config_files import ConfigProblems, ConfigUnreadable, IvrFiles, OutsideConfigDir

CONFIG = Path(__file__).resolve().parents[2] / "config"


@pytest.fixture
def folder(tmp_path):
    shutil.copy(CONFIG / "seats.yaml", tmp_path / "seats.yaml")
    text = (tmp_path / "seats.yaml").read_text(encoding="utf-8")
    (tmp_path / "seats.yaml").write_text(text.replace('{id: "1001", name: 人大代表专席}',
                                                      '{id: "1001", name: 人大代表专席, secret: "s3cret-1001"}'),
                                         encoding="utf-8")
    return tmp_path


async def test_seats_are_checked_saved_and_secrets_kept(folder):
    files = AgentFiles(folder, folder / "seats.yaml")
    before = await files.seats()
    assert all("secret" not in s for s in before["seats"])            # never shown
    ops = [{"id": "8001", "name": "甲", "skills": {"general": 5}}]
    old, new = await files.save_seats([{"id": "1001", "name": "专席"}, {"id": "2001", "name": "新席"}], ops,
                                      ["deputy", "enterprise", "general"])
    assert old == before and [s["id"] for s in new["seats"]] == ["1001", "2001"]
    data = yaml.safe_load((folder / "seats.yaml").read_text(encoding="utf-8"))
    assert data["seats"][0]["secret"] == "s3cret-1001"                  # kept across the save
    assert (folder / "seats.yaml.prev").exists()
    assert "# Softphone seats" in (folder / "seats.yaml").read_text(encoding="utf-8")   # comments stay


async def test_a_seat_config_with_problems_is_not_written(folder):
    files = AgentFiles(folder, folder / "seats.yaml")
    text = (folder / "seats.yaml").read_text(encoding="utf-8")
    with pytest.raises(ConfigProblems) as err:
        await files.save_seats([{"id": "1001"}], [{"id": "8001", "name": "甲", "skills": {"nowhere": 5}}],
                               ["deputy", "enterprise", "general"])
    assert err.value.error_id == "config_invalid" and err.value.details["problems"]
    assert (folder / "seats.yaml").read_text(encoding="utf-8") == text


async def test_transfer_numbers_round_trip_and_an_unreadable_file_is_said(folder):
    files = AgentFiles(folder, folder / "seats.yaml", folder / "transfers.yaml")
    assert (await files.transfers())["targets"] == []
    old, items = await files.save_transfers([{"id": "tax", "name": "税务", "number": "12366"}])
    assert old == [] and (await files.transfers())["targets"] == [
        {"id": "tax", "name": "税务", "number": "12366", "three_way": False}]
    assert (folder / "transfers.yaml").read_text(encoding="utf-8").startswith("# External transfer numbers")
    (folder / "transfers.yaml").write_text("targets: [\n", encoding="utf-8")
    with pytest.raises(ConfigUnreadable) as err:
        await files.transfers()
    assert err.value.what == "transfers"


@pytest.mark.parametrize("rel", ["../outside.csv", "/etc/passwd", "lists/../../x.csv"])
def test_files_stay_inside_the_config_folder(folder, rel):
    files = IvrFiles(versions=None, base_dir=folder)        # type: ignore[arg-type]  (no version is read)
    with pytest.raises(OutsideConfigDir) as err:
        files.inside(rel)
    assert err.value.details == {"file": rel}
    assert files.inside("lists/deputies.csv") == (folder / "lists" / "deputies.csv").resolve()
