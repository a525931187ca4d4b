import pytest
from test_agents_service import hotline_factory, test_run_loop_matches_on_poke_and_delivers_to_the_node as t  # noqa


@pytest.mark.parametrize("i", range(300))
async def test_loop_many(hotline_factory, i):
    await t(hotline_factory)
