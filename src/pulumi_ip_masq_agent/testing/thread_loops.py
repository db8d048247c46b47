"""The render's worker threads, each with an event loop that is closed when they are done.

The SDK's mock monitor runs each registration on the event loop's default executor and, on
that worker thread, asks for the thread's event loop (making one if there is none) to
deserialize the inputs. Nothing closes those loops: they are finalised whenever the collector
reaches them, at interpreter exit possibly after their self-pipe sockets, which printed
"Exception ignored in: BaseEventLoop.__del__ ... Invalid file descriptor: -1" after the demo.
Here every worker thread gets its loop up front, and the loops close once the threads have
joined."""

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager


@contextmanager
def workers_with_loops() -> Iterator[ThreadPoolExecutor]:
    """A thread pool for an event loop's default executor; on leaving, its threads are joined
    and the loop each of them had is closed."""
    made: list[asyncio.AbstractEventLoop] = []

    def own_loop() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        # list.append is atomic: the threads start concurrently.
        made.append(loop)

    pool = ThreadPoolExecutor(thread_name_prefix="render", initializer=own_loop)
    try:
        yield pool
    finally:
        # Joined first: no thread is inside its loop when it closes.
        pool.shutdown(wait=True, cancel_futures=True)
        for loop in made:
            loop.close()
