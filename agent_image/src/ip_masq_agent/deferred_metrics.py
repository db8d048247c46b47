"""The metrics as the loop sees them, and the ones it records before prometheus_client is there.

The agent's first sync runs before prometheus_client is imported and before its servers
listen: at 10,000 CIDRs those are ~50 ms of a start that should be live in 0.35 s, and no
scrape or probe can be answered usefully before the first sync anyway. `DeferredMetrics`
records what the loop reports meanwhile (the same values: a success's wall time, a sync's
duration) and replays it into the real `AgentMetrics` when `attach` gets them, then passes
every call straight through. `Metrics` is what the loop needs of either.
"""

import threading
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol, cast


class Counting(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class Setting(Protocol):
    def set(self, value: float) -> None: ...


class Observing(Protocol):
    def observe(self, amount: float) -> None: ...


class LabelledCounter(Protocol):
    def labels(self, **labels: str) -> Counting: ...


class LabelledGauge(Protocol):
    def labels(self, **labels: str) -> Setting: ...

    def remove(self, *values: str) -> None: ...


class FunctionGauge(Protocol):
    def set_function(self, f: Callable[[], float]) -> None: ...


class Metrics(Protocol):
    """Every metric the loop reports to (`metrics.AgentMetrics` holds the real ones)."""

    @property
    def sync_duration(self) -> Observing: ...
    @property
    def syncs(self) -> LabelledCounter: ...
    @property
    def config_reloads(self) -> LabelledCounter: ...
    @property
    def config_current(self) -> Setting: ...
    @property
    def last_success(self) -> Setting: ...
    @property
    def last_queued(self) -> Setting: ...
    @property
    def desired_cidrs(self) -> LabelledGauge: ...
    @property
    def desired_digest(self) -> LabelledGauge: ...
    @property
    def rules_rewritten(self) -> LabelledCounter: ...
    @property
    def other_backend_removals(self) -> LabelledCounter: ...
    @property
    def writer_fights(self) -> Counting: ...
    @property
    def writer_fight(self) -> FunctionGauge: ...


class _Call(NamedTuple):
    metric: str  # the attribute of `Metrics`
    labels: tuple[tuple[str, str], ...]  # `labels(**...)` first when not empty
    method: str
    args: tuple[Any, ...]

    def apply(self, metrics: Metrics) -> None:
        target = getattr(metrics, self.metric)
        if self.labels:
            target = target.labels(**dict(self.labels))
        getattr(target, self.method)(*self.args)


class _Recorder:
    """One metric (or one labelled child) whose calls go to `report`."""

    def __init__(
        self,
        report: Callable[[_Call], None],
        metric: str,
        labels: tuple[tuple[str, str], ...] = (),
    ) -> None:
        self._report, self._metric, self._labels = report, metric, labels

    def _record(self, method: str, *args: Any) -> None:
        self._report(_Call(self._metric, self._labels, method, args))

    def labels(self, **labels: str) -> "_Recorder":
        return _Recorder(self._report, self._metric, tuple(labels.items()))

    def inc(self, amount: float = 1) -> None:
        self._record("inc", amount)

    def set(self, value: float) -> None:
        self._record("set", value)

    def observe(self, amount: float) -> None:
        self._record("observe", amount)

    def remove(self, *values: str) -> None:
        self._record("remove", *values)

    def set_function(self, f: Callable[[], float]) -> None:
        self._record("set_function", f)


class DeferredMetrics:
    """`Metrics` recorded until `attach`, then the attached ones (thread-safe: the watcher
    and SIGHUP's thread may report a queued sync while the main thread attaches)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._journal: list[_Call] = []
        self._real: Metrics | None = None

    def attach(self, real: Metrics) -> None:
        """Replay what was recorded into `real`, in order, and report to it from now on."""
        with self._lock:
            for call in self._journal:
                call.apply(real)
            self._journal.clear()
            self._real = real

    def _report(self, call: _Call) -> None:
        # Under the lock: a call racing `attach` lands in the journal before the replay or
        # goes to the real metrics after it, never in a journal nobody reads again.
        with self._lock:
            if self._real is None:
                self._journal.append(call)
            else:
                call.apply(self._real)

    def _metric(self, name: str) -> Any:
        real = self._real  # once attached, for good: the real metric itself, no recording
        return getattr(real, name) if real is not None else _Recorder(self._report, name)

    @property
    def sync_duration(self) -> Observing:
        return cast(Observing, self._metric("sync_duration"))

    @property
    def syncs(self) -> LabelledCounter:
        return cast(LabelledCounter, self._metric("syncs"))

    @property
    def config_reloads(self) -> LabelledCounter:
        return cast(LabelledCounter, self._metric("config_reloads"))

    @property
    def config_current(self) -> Setting:
        return cast(Setting, self._metric("config_current"))

    @property
    def last_success(self) -> Setting:
        return cast(Setting, self._metric("last_success"))

    @property
    def last_queued(self) -> Setting:
        return cast(Setting, self._metric("last_queued"))

    @property
    def desired_cidrs(self) -> LabelledGauge:
        return cast(LabelledGauge, self._metric("desired_cidrs"))

    @property
    def desired_digest(self) -> LabelledGauge:
        return cast(LabelledGauge, self._metric("desired_digest"))

    @property
    def rules_rewritten(self) -> LabelledCounter:
        return cast(LabelledCounter, self._metric("rules_rewritten"))

    @property
    def other_backend_removals(self) -> LabelledCounter:
        return cast(LabelledCounter, self._metric("other_backend_removals"))

    @property
    def writer_fights(self) -> Counting:
        return cast(Counting, self._metric("writer_fights"))

    @property
    def writer_fight(self) -> FunctionGauge:
        return cast(FunctionGauge, self._metric("writer_fight"))
