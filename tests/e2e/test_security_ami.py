"""Issue #12 item 9 against the real Asterisk: the product's AMI user has only the classes
the product uses, so its secret (if it leaked) cannot run CLI commands, read or rewrite
config files, load modules, or Originate System(): no code execution as the Asterisk user."""
from __future__ import annotations

import asyncio

import pytest

from pbx.ami import AMIActionError, AMIClient


@pytest.fixture
async def ami(fresh):
    client = AMIClient("127.0.0.1", fresh.asterisk.ports.ami, fresh.asterisk.ami_user, fresh.asterisk.ami_secret)
    await client.connect()
    yield client
    await client.close()


@pytest.mark.parametrize("name,params", [
    ("Command", {"Command": "core show uptime"}),
    ("Reload", {"Module": "pbx_config.so"}),
    ("GetConfig", {"Filename": "manager.conf"}),
    ("UpdateConfig", {"SrcFilename": "extensions.conf", "DstFilename": "extensions.conf",
                      "Action-000000": "Append", "Cat-000000": "x", "Var-000000": "exten",
                      "Value-000000": "s,1,System(touch {marker})"}),
    ("ModuleLoad", {"Module": "app_system.so", "LoadType": "load"}),
    ("Originate", {"Channel": "Local/s@hotline-fallback", "Application": "System",
                   "Data": "touch {marker}", "Async": "true"}),
])
async def test_the_ami_user_cannot_reach_system_command_or_config(ami, name, params, tmp_path):
    marker = tmp_path / "pwned"                      # what System() would create
    params = {k: v.replace("{marker}", str(marker)) for k, v in params.items()}
    with pytest.raises(AMIActionError) as e:
        await ami.action(name, **params)
    assert "denied" in str(e.value).lower() or "forbidden" in str(e.value).lower(), str(e.value)
    await asyncio.sleep(0.5)
    assert not marker.exists()                       # (on the old `write = all` it was created)


async def test_what_the_product_uses_still_works_and_reloads_go_over_the_control_socket(fresh, ami):
    assert (await ami.action("Ping")).get("Response") == "Success"
    assert isinstance(await ami.core_show_channels(), list)
    await ami.action("UserEvent", UserEvent="HotlineProbe")
    written = await fresh.republish_config()             # dialplan, PJSIP and queues reloaded
    assert "extensions_hotline.conf" in written
    assert "Asterisk has fully booted" in (await asyncio.to_thread(fresh.asterisk.cli, "core waitfullybooted") or "")
