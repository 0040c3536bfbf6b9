"""Live updates across processes: a rescore in one process reaches streams in another."""

from __future__ import annotations

import asyncio
import uuid

from healthscore.dashboard.live import RedisBroadcaster, publish_scores_changed


def test_scores_changed_in_one_process_reach_streams_of_another(redis_url):
    channel = f"test-{uuid.uuid4().hex[:8]}:scores-changed"
    server_a = RedisBroadcaster(redis_url, channel=channel)
    server_b = RedisBroadcaster(redis_url, channel=channel)
    server_a.start()
    server_b.start()

    async def scenario() -> list[tuple[str, ...]]:
        stream_a = server_a.subscribe()
        stream_b = server_b.subscribe()
        await asyncio.sleep(0.5)  # both listeners subscribed
        server_a.notify_scores_changed(["acme"])  # e.g. a refresh served by process A
        publish_scores_changed(redis_url, channel, ["globex"])  # e.g. a worker's rescore
        got = []
        for stream in (stream_a, stream_b, stream_a, stream_b):
            event = await stream.next(timeout=5)
            assert event is not None
            got.append(event[1].customer_ids)
        return got

    try:
        received = asyncio.run(scenario())
    finally:
        server_a.stop()
        server_b.stop()
    assert received == [("acme",), ("acme",), ("globex",), ("globex",)]
