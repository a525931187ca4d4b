"""The knowledge base (知识库) as a feature: articles in the records database, the admin page's API,
the console's suggestions from the live transcript, 直接办结 from an article, and its report. Without
a records database (database.url none) there is no knowledge base: the console shows no suggestions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hotline.features.base import Deps, Feature
from hotline.features.tickets import Tickets


@dataclass(kw_only=True)
class Knowledge(Feature):
    store: Any = None            # records.knowledge.KnowledgeStore, or None without a records database


def load(deps: Deps, tickets: Tickets) -> Knowledge:
    if deps.records is None:
        return Knowledge()
    from records.knowledge import KnowledgeStore  # asyncpg only with a records database
    from web.routes_knowledge import Knowledge as KnowledgeService
    from web.routes_knowledge import knowledge_routes

    store = KnowledgeStore(deps.records.db.pool)

    async def warm_up() -> None:                      # jieba's dictionary, once, before the first call
        import asyncio

        from tickets.knowledge import query_terms

        await asyncio.to_thread(query_terms, "社保卡补办")

    return Knowledge(store=store, routes=[knowledge_routes(KnowledgeService(store, tickets.store))],
                     on_start=[warm_up])
