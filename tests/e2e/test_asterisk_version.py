"""The stack runs the Asterisk it was asked for: the system's (16) by default, Asterisk 22 LTS from
the root scripts/asterisk22 makes when HOTLINE_TEST_ASTERISK_ROOT names it (scripts/test's second
pass). A run meant for 22 that silently fell back to 16 fails here."""
from __future__ import annotations

import asyncio

from devstack.asterisk_server import major_version
from tests.e2e.conftest import ASTERISK_ROOT


async def test_the_running_asterisk_is_the_one_asked_for(stack):
    banner = await asyncio.to_thread(stack.asterisk.cli, "core show version")
    assert banner, "no answer on the control socket"
    running = major_version(banner.strip())
    assert running == major_version(stack.asterisk.install.version())
    assert running == (22 if ASTERISK_ROOT else 16), banner
    if ASTERISK_ROOT:
        assert stack.asterisk.install.root is not None
        modules = await asyncio.to_thread(stack.asterisk.cli, "module show like audiosocket")
        assert modules and "app_audiosocket.so" in modules     # what live capture uses on 22


async def test_the_host_s_own_name_resolves_inside_and_no_ice_is_gathered(stack):
    """The root sees this machine's /etc/hosts and resolv.conf (without them every lookup of the host's
    own name went to DNS, and a timed-out one held a PJSIP thread 5 s: 3 of 300 calls completed on 22);
    and no ICE candidates are gathered for plain trunk and seat RTP (that gathering is what looks the
    name up, once per RTP session)."""
    from pathlib import Path

    pid = stack.asterisk.process.proc.pid
    for name in ("/etc/hosts", "/etc/resolv.conf"):
        host = Path(name)
        if host.is_file():
            assert Path(f"/proc/{pid}/root{name}").read_bytes() == host.read_bytes(), name
    settings = await asyncio.to_thread(stack.asterisk.cli, "rtp show settings")
    assert settings and "ICE support" in settings
    assert [ln for ln in settings.splitlines() if "ICE support" in ln][0].split(":")[-1].strip() == "No", settings
