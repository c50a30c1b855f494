"""``Client``: the native client plus what is idiomatic in Python."""

from __future__ import annotations

import asyncio
import atexit
import logging
import threading
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, List, NamedTuple, Optional

from vexil._native import ChangeFeed, NativeClient

_log = logging.getLogger("vexil")

# How often the listener thread looks at whether the client was dropped.
_LISTENER_POLL_SECONDS = 0.5
# Clients with a listener thread, to stop at interpreter exit (see below).
_LISTENING: "weakref.WeakSet[Client]" = weakref.WeakSet()


@dataclass(frozen=True)
class Status:
    """Where a client stands.

    ``state`` is ``"initializing"`` (no state yet, still trying),
    ``"ready"`` (current: streaming, or polling on schedule), ``"stale"``
    (serving state that may be out of date, e.g. from the cache file, since
    ``since``), ``"offline"`` (no state and no node reachable) or
    ``"closed"``. ``reason`` says why when not ready.
    """

    state: str
    reason: Optional[str] = None
    since: Optional[datetime] = None

    @property
    def ready(self) -> bool:
        return self.state == "ready"


class FlagChange(NamedTuple):
    """A flag changed (``version`` is ``None`` when it was deleted).

    ``key`` is ``None`` when the listener fell behind and missed changes:
    re-read whatever you derive from flags.
    """

    key: Optional[str]
    version: Optional[int]
    id: int


Listener = Callable[[FlagChange], None]


class Client(NativeClient):
    """A Vexil client. Thread-safe; create one per process and share it.

    ``Client(urls, sdk_token, *, cache_file=None, connect_timeout=None,
    read_timeout=None, poll_interval=None, metrics_flush_interval=None,
    backoff_initial=None, backoff_max=None, seed=None)``: ``urls`` is one
    node URL or a list of them (any node works), ``sdk_token`` an ``sdk``
    token; durations are in seconds (defaults: the Rust SDK's). Raises
    ``ConfigError`` (a ``ValueError``) or ``TypeError`` naming a bad
    argument; nothing else raises on the evaluation path.

    Evaluation works at once: from the cache file when there is one, else
    with the caller's defaults (``CLIENT_NOT_READY``) until a node answers.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # The native constructor (``__new__``) took the arguments and
        # started the client.
        self._listeners: List[Listener] = []
        self._listeners_lock = threading.Lock()
        self._listener_thread: Optional[threading.Thread] = None
        self._feed: Optional[ChangeFeed] = None
        self._closed = threading.Event()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def status(self) -> Status:
        state, reason, since = self._status()
        at = datetime.fromtimestamp(since, tz=timezone.utc) if since is not None else None
        return Status(state, reason, at)

    def wait_until_ready(self, timeout: float = 5.0) -> bool:
        """Blocks until the client is ``ready`` (a node answered) or
        ``timeout`` seconds pass; returns whether it is ready. The GIL is
        released meanwhile."""
        return self._wait_until_ready(float(timeout))

    async def wait_until_ready_async(self, timeout: float = 5.0) -> bool:
        """``wait_until_ready`` for asyncio: waits on a worker thread, so the
        event loop keeps running."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self._wait_until_ready, float(timeout))

    def flush_metrics(self) -> bool:
        """Sends the evaluation counts now (they are also sent on an
        interval); returns whether a node took them."""
        return self._flush_metrics()

    def on_change(self, listener: Listener) -> Listener:
        """Calls ``listener(FlagChange)`` on a background thread for every
        flag change applied from now on. Returns the listener, so it can be
        used as a decorator. A listener that raises is logged and kept."""
        if not callable(listener):
            raise TypeError("listener must be callable")
        with self._listeners_lock:
            self._listeners.append(listener)
            if self._listener_thread is None and not self._closed.is_set():
                feed = self._changes()
                if feed is not None:
                    self._feed = feed
                    _LISTENING.add(self)
                    t = threading.Thread(
                        target=_dispatch,
                        args=(weakref.ref(self), feed),
                        name="vexil-listeners",
                        daemon=True,
                    )
                    self._listener_thread = t
                    t.start()
        return listener

    def remove_listener(self, listener: Listener) -> bool:
        """Stops calling ``listener``; returns whether it was registered."""
        with self._listeners_lock:
            try:
                self._listeners.remove(listener)
                return True
            except ValueError:
                return False

    def close(self) -> None:
        """Stops streaming and the background work, after a last metrics
        flush if a node is reachable. Evaluation afterwards serves defaults
        (``CLIENT_NOT_READY``). Idempotent; the context manager calls it."""
        self._stop_listening()
        self._close()

    def _stop_listening(self) -> None:
        self._closed.set()
        if self._feed is not None:
            self._feed.close()
        t = self._listener_thread
        if t is not None and t is not threading.current_thread():
            t.join(timeout=2 * _LISTENER_POLL_SECONDS + 1)


@atexit.register
def _stop_listener_threads() -> None:
    """Ends every listener thread before the interpreter finalises: a thread
    still waiting in the extension then would be ended by CPython with a
    forced unwind through Rust frames, which aborts the process."""
    for client in list(_LISTENING):
        client._stop_listening()


def _dispatch(client_ref: "weakref.ReferenceType[Client]", feed: ChangeFeed) -> None:
    """The listener thread: calls every listener for each change. It holds
    the client only weakly, so a client dropped without `close()` is still
    freed (its feed then reports "closed" and the thread ends)."""
    while True:
        client = client_ref()
        if client is None or client._closed.is_set():
            return
        del client
        item = feed.next(_LISTENER_POLL_SECONDS)
        if item is None:
            continue
        kind, key, version, change_id = item
        if kind == "closed":
            return
        change = FlagChange(key, version, change_id) if kind == "change" else FlagChange(None, None, 0)
        client = client_ref()
        if client is None:
            return
        with client._listeners_lock:
            listeners = list(client._listeners)
        del client
        for listener in listeners:
            try:
                listener(change)
            except Exception:  # a listener's bug must not stop the others
                _log.exception("vexil change listener %r raised", listener)
