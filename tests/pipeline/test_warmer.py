"""The warm-up cache stays bounded: unique model names (a client inventing them, each request
then refused) leave nothing behind once their warm-up ends, and at most `max_inflight` run."""

from __future__ import annotations

import asyncio

from harvis.config import Settings
from harvis.llm.router import Router
from harvis.pipeline.filler import Warmer
from tests.support.processes import free_port


async def test_unique_model_names_never_pile_up() -> None:
    router = Router.from_settings(Settings(ollama_url=f"http://127.0.0.1:{free_port()}"))
    await router.start()
    try:
        warmer = Warmer(router, "5m", max_inflight=8)
        tasks = [warmer.warm(f"invented-{n}") for n in range(100)]
        started = [t for t in tasks if t is not None]
        assert len(started) == 8 and warmer.inflight == 8
        assert warmer.warm("invented-0") is started[0]  # one per model
        assert await asyncio.wait_for(asyncio.gather(*started), timeout=30) == [False] * 8
        await asyncio.sleep(0)  # done callbacks run
        assert warmer.inflight == 0
        assert warmer.warm("invented-100") is not None
        await warmer.close()
        assert warmer.inflight == 0
    finally:
        await router.close()
