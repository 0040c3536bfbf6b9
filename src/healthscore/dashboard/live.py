"""Live updates: "scores changed" events fanned out to open dashboards as server-sent events.

Scoring runs in worker threads (sync routes), while event streams are asyncio tasks, so
publishing is thread-safe: each subscriber's queue is fed through its own event loop with
``call_soon_threadsafe``.

Streams end after ``lifetime`` seconds and the browser reconnects on its own: a server
that is shutting down waits for open responses, so endless streams would hold it up. No
event is lost in between: every event has an id, the last few are kept, and a reconnecting
browser sends ``Last-Event-ID`` to get what it missed. When that cannot be answered (another
process, or too long ago) it gets an event naming no account, meaning "re-read everything".

``Broadcaster`` fans out inside one process. Several server processes need a shared bus:
subclass it, make :meth:`Broadcaster.publish` send to Redis pub/sub, and have a listener
call :meth:`Broadcaster.deliver` for each message received; nothing else changes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
import redis

log = logging.getLogger(__name__)

EVENT_SCORES_CHANGED = "scores-changed"
RETRY_MS = 2000
"""How long a browser waits before reconnecting a stream that ended or dropped."""


@dataclass(frozen=True)
class ScoresChanged:
    """Some accounts have new scores; pages showing them should re-read.

    No ``customer_ids`` means any account may have changed.
    """

    customer_ids: tuple[str, ...]
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_sse(self, event_id: str) -> str:
        data = orjson.dumps({"customerIds": list(self.customer_ids), "at": self.at.isoformat()})
        return f"id: {event_id}\nevent: {EVENT_SCORES_CHANGED}\ndata: {data.decode()}\n\n"


Numbered = tuple[int, ScoresChanged]


class Subscription:
    """One open stream's mailbox. Bounded: a stalled client cannot grow memory."""

    def __init__(self, loop: asyncio.AbstractEventLoop, size: int) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Numbered] = asyncio.Queue(maxsize=size)

    def offer(self, item: Numbered) -> None:
        """Runs on the subscriber's loop. When full, the oldest event makes room.

        Every event means "re-read", so losing an old one loses nothing a newer one
        does not also say.
        """
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(item)

    async def next(self, timeout: float) -> Numbered | None:
        try:
            return await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None


class Broadcaster:
    """In-process fan-out of score changes to every subscribed event stream."""

    def __init__(self, *, queue_size: int = 32, remember: int = 100) -> None:
        self._lock = threading.Lock()
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self._recent: deque[Numbered] = deque(maxlen=remember)
        self._counter = 0
        self.token = secrets.token_hex(4)
        """Tells this process's event ids from another's (or from before a restart)."""

    @property
    def subscribers(self) -> int:
        with self._lock:
            return len(self._subscribers)

    def event_id(self, number: int) -> str:
        return f"{self.token}-{number}"

    def subscribe(self, last_event_id: str | None = None) -> Subscription:
        """Call from the event loop that will read the subscription.

        With the id of the last event a client saw, what it missed since is queued first.
        """
        subscription = Subscription(asyncio.get_running_loop(), self._queue_size)
        with self._lock:
            for item in self._missed(last_event_id):
                subscription.offer(item)
            self._subscribers.add(subscription)
        return subscription

    def _missed(self, last_event_id: str | None) -> list[Numbered]:
        if not last_event_id:
            return []
        token, _, number = last_event_id.partition("-")
        known = token == self.token and number.isdigit()
        seen = int(number) if known else -1
        oldest = self._recent[0][0] if self._recent else self._counter + 1
        if known and (seen >= self._counter or seen + 1 >= oldest):
            return [item for item in self._recent if item[0] > seen]
        # Another process's id, or older than we remember: say "everything may have changed".
        return [(self._counter, ScoresChanged(()))]

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers.discard(subscription)

    def notify_scores_changed(self, customer_ids: Iterable[str]) -> None:
        """Tell open dashboards these accounts were rescored; safe from any thread."""
        self.publish(ScoresChanged(tuple(customer_ids)))

    def publish(self, event: ScoresChanged) -> None:
        """Send an event to every subscriber; override to go through a shared bus."""
        self.deliver(event)

    def deliver(self, event: ScoresChanged) -> None:
        """Number an event and hand it to this process's subscribers, from any thread."""
        with self._lock:
            self._counter += 1
            item = (self._counter, event)
            self._recent.append(item)
            subscribers = list(self._subscribers)
        for subscription in subscribers:
            try:
                subscription.loop.call_soon_threadsafe(subscription.offer, item)
            except RuntimeError:  # that loop has closed: the stream is gone
                self.unsubscribe(subscription)


async def event_stream(
    broadcaster: Broadcaster,
    is_disconnected: Callable[[], Awaitable[bool]],
    *,
    last_event_id: str | None = None,
    heartbeat: float = 15.0,
    lifetime: float = 25.0,
) -> AsyncIterator[str]:
    """The text of a ``text/event-stream`` response, for at most ``lifetime`` seconds.

    A comment line every ``heartbeat`` seconds keeps proxies from closing an idle
    connection and lets a vanished client be noticed.
    """
    subscription = broadcaster.subscribe(last_event_id)
    deadline = time.monotonic() + lifetime
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        while (left := deadline - time.monotonic()) > 0:
            item = await subscription.next(min(heartbeat, left))
            if await is_disconnected():
                return
            if item is not None:
                yield item[1].to_sse(broadcaster.event_id(item[0]))
            elif deadline - time.monotonic() > 0:
                yield ": ping\n\n"
    finally:
        broadcaster.unsubscribe(subscription)


class RedisBroadcaster(Broadcaster):
    """Fan-out across processes: publish to a Redis channel, deliver what it carries.

    Every API process subscribes (a daemon thread); workers and the CLI only publish
    (``publish_scores_changed``). If Redis is unreachable, events still reach this
    process's own streams and the listener reconnects with a pause.
    """

    def __init__(self, url: str, *, channel: str, queue_size: int = 32) -> None:
        super().__init__(queue_size=queue_size)
        self.channel = channel
        self._client = redis.Redis.from_url(url, socket_timeout=5)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, event: ScoresChanged) -> None:
        try:
            self._client.publish(self.channel, _encode(event))
        except redis.RedisError:
            log.warning("Redis unavailable: live update delivered locally only", exc_info=True)
            self.deliver(event)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._listen, name="live-updates", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._client.close()

    def _listen(self) -> None:
        while not self._stop.is_set():
            try:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self.deliver(_decode(message["data"]))
                pubsub.close()
            except (redis.RedisError, ValueError):
                if self._stop.wait(2.0):
                    return


def _encode(event: ScoresChanged) -> bytes:
    return orjson.dumps({"customerIds": list(event.customer_ids), "at": event.at.isoformat()})


def _decode(data: bytes) -> ScoresChanged:
    body = orjson.loads(data)
    return ScoresChanged(tuple(body["customerIds"]), datetime.fromisoformat(body["at"]))


def publish_scores_changed(redis_url: str, channel: str, customer_ids: Iterable[str]) -> None:
    """From a process without open streams (worker, CLI): tell every API process."""
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    try:
        client.publish(channel, _encode(ScoresChanged(tuple(customer_ids))))
    except redis.RedisError:
        log.warning("Redis unavailable: live update not published", exc_info=True)
    finally:
        client.close()


def live_channel(queue_name: str) -> str:
    return f"{queue_name}:scores-changed"
