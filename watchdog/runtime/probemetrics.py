"""The per-probe metric families as plain numbers, rendered straight to exposition text.

Nearly every series of a large config carries a `probe` label, and with probes running every
1-15 s nearly all of them change between two scrapes. Through prometheus_client each update
is a `labels()` lookup (about half of the engine's cost per run), and each scrape builds a
`Sample` tuple and a label dict per series before any text is made: most of a 10k-series
scrape, and enough short-lived containers to start full GC passes that hold the GIL (the
event loop's too) for tens of milliseconds. Here each probe's numbers live in small objects
updated on the event loop, each series' label text is escaped once when the series first
appears, and a scrape formats prefix + value.

`ProbeMetrics` is a proper collector on the daemon's registry: `describe()` claims its names
(duplicates are still rejected) and `collect()` still yields families whose samples are
built on demand, so `generate_latest` and `get_sample_value` see the same series as the
daemon's /metrics (watchdog.runtime.metrics.Exposition takes the text path).
"""

from __future__ import annotations

import math
import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import metrics as client_metrics
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

_library_float: Callable[[float], str] = floatToGoString  # typed: the library's is not


def go_float(value: float) -> str:
    """prometheus_client's float text, most of a scrape's cost: its own code only where it
    differs from repr (infinities, NaN, positives of 7+ integer digits)."""
    if -math.inf < value < 1e6:
        return repr(float(value))
    return _library_float(value)


def escape(value: str) -> str:
    """A label value as the text format quotes it."""
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r'\"')


def header(name: str, documentation: str, kind: str) -> str:
    doc = documentation.replace("\\", r"\\").replace("\n", r"\n")
    return f"# HELP {name} {doc}\n# TYPE {name} {kind}\n"


def _created_series() -> bool:
    """prometheus_client's switch (PROMETHEUS_DISABLE_CREATED_SERIES), read per scrape."""
    return bool(getattr(client_metrics, "_use_created", True))


@dataclass(slots=True)
class Series:
    """One series: its labels (as given, and as escaped text sorted by name) and value."""

    labels: dict[str, str]
    text: str
    value: float = 0.0
    created: float = field(default_factory=time.time)


@dataclass(slots=True)
class Buckets:
    """One probe's duration histogram: a count per bucket (not cumulative) and the sum."""

    labels: dict[str, str]
    text: str
    counts: list[float]
    total: float = 0.0
    created: float = field(default_factory=time.time)


class ProbeState:
    """One probe's series; each appears when the probe first reports it."""

    __slots__ = ("duration", "errors", "name", "runs", "skipped", "success", "text", "values")

    def __init__(self, name: str) -> None:
        self.name = name
        self.text = f'probe="{escape(name)}"'  # escaped once, for every series of the probe
        self.success: Series | None = None
        self.duration: Buckets | None = None
        self.errors: Series | None = None
        self.runs: dict[str, Series] = {}  # by status
        self.skipped: dict[str, Series] = {}  # by reason
        self.values: dict[str, Series] = {}  # by value name

    def series(self) -> Series:
        return Series({"probe": self.name}, self.text)

    def keyed(self, label: str, key: str) -> Series:
        """A series with one more label, which sorts after `probe` (status, reason, value)."""
        return Series({"probe": self.name, label: key}, f'{self.text},{label}="{escape(key)}"')


@dataclass(frozen=True)
class ScalarFamily:
    """A gauge or counter family: which of a probe's series belong to it."""

    name: str
    documentation: str
    kind: str  # "gauge" or "counter"
    labels: tuple[str, ...]
    of: Callable[[ProbeState], Iterable[Series]]

    def lines(self, probes: Sequence[ProbeState]) -> Iterator[str]:
        sample = self.name + "_total" if self.kind == "counter" else self.name
        yield header(sample, self.documentation, self.kind)
        for probe in probes:
            for series in self.of(probe):
                yield f"{sample}{{{series.text}}} {go_float(series.value)}\n"
        if self.kind == "counter" and _created_series():
            yield header(self.name + "_created", self.documentation, "gauge")
            for probe in probes:
                for series in self.of(probe):
                    yield f"{self.name}_created{{{series.text}}} {go_float(series.created)}\n"

    def samples(self, probes: Sequence[ProbeState]) -> list[Sample]:
        sample = self.name + "_total" if self.kind == "counter" else self.name
        created = self.kind == "counter" and _created_series()
        out: list[Sample] = []
        for probe in probes:
            for series in self.of(probe):
                out.append(Sample(sample, dict(series.labels), series.value, None, None))
                if created:
                    out.append(Sample(self.name + "_created", dict(series.labels),
                                      series.created, None, None))
        return out


@dataclass(frozen=True)
class HistogramFamily:
    """The probes' duration histograms, as prometheus_client's Histogram exposes them."""

    name: str
    documentation: str
    bounds: tuple[float, ...]  # upper bounds, +Inf last
    kind: str = "histogram"
    labels: tuple[str, ...] = ("probe",)
    les: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "les", tuple(go_float(b) for b in self.bounds))

    def lines(self, probes: Sequence[ProbeState]) -> Iterator[str]:
        yield header(self.name, self.documentation, "histogram")
        for probe in probes:
            if (hist := probe.duration) is not None:
                yield from self._histogram(hist)
        if _created_series():
            yield header(self.name + "_created", self.documentation, "gauge")
            for probe in probes:
                if (hist := probe.duration) is not None:
                    yield f"{self.name}_created{{{hist.text}}} {go_float(hist.created)}\n"

    def _histogram(self, hist: Buckets) -> Iterator[str]:
        counts, total, acc = list(hist.counts), hist.total, 0.0  # one consistent copy
        for le, count in zip(self.les, counts, strict=True):
            acc += count
            yield f'{self.name}_bucket{{le="{le}",{hist.text}}} {go_float(acc)}\n'
        yield f"{self.name}_count{{{hist.text}}} {go_float(acc)}\n"
        yield f"{self.name}_sum{{{hist.text}}} {go_float(total)}\n"

    def samples(self, probes: Sequence[ProbeState]) -> list[Sample]:
        out: list[Sample] = []
        for probe in probes:
            if (hist := probe.duration) is not None:
                out.extend(self._samples(hist))
        return out

    def _samples(self, hist: Buckets) -> Iterator[Sample]:
        counts, total, acc = list(hist.counts), hist.total, 0.0
        for le, count in zip(self.les, counts, strict=True):
            acc += count
            yield Sample(self.name + "_bucket", {**hist.labels, "le": le}, acc, None, None)
        yield Sample(self.name + "_count", dict(hist.labels), acc, None, None)
        yield Sample(self.name + "_sum", dict(hist.labels), total, None, None)
        if _created_series():
            yield Sample(self.name + "_created", dict(hist.labels), hist.created, None, None)


Family = ScalarFamily | HistogramFamily


class ProbeFamily(Metric):
    """A family of the collector: its text for the daemon's /metrics, samples on demand."""

    def __init__(self, family: Family, probes: Sequence[ProbeState]) -> None:
        super().__init__(family.name, family.documentation, family.kind)
        self.family = family
        self.probes = probes

    @property
    def samples(self) -> list[Sample]:
        return self.family.samples(self.probes)

    @samples.setter
    def samples(self, _: list[Sample]) -> None:
        """Metric.__init__ sets an empty list; the samples always come from the probes."""

    def lines(self) -> Iterator[str]:
        return self.family.lines(self.probes)


def _one(series: Series | None) -> tuple[Series, ...]:
    return () if series is None else (series,)


def _all(series: dict[str, Series]) -> tuple[Series, ...]:
    return tuple(series.values())  # a copy: the loop may add one while a scrape reads


class ProbeMetrics(Collector):
    """The `probe`-labelled families, updated on the event loop, read by scrapes."""

    def __init__(self, registry: CollectorRegistry, prefix: str,
                 duration_buckets: Sequence[float]) -> None:
        self._probes: dict[str, ProbeState] = {}
        self.bounds = (*duration_buckets, math.inf)
        self.families: tuple[Family, ...] = (
            ScalarFamily(prefix + "probe_success", "1 if the probe's last run passed, 0 if it "
                         "failed, NaN if unknown", "gauge", ("probe",),
                         lambda p: _one(p.success)),
            HistogramFamily(prefix + "probe_duration_seconds", "How long probe runs take",
                            self.bounds),
            ScalarFamily(prefix + "probe_runs", "Probe runs by status (ok, failed, unknown)",
                         "counter", ("probe", "status"), lambda p: _all(p.runs)),
            ScalarFamily(prefix + "probe_errors", "Probe runs that crashed or hung (reported "
                         "as unknown)", "counter", ("probe",), lambda p: _one(p.errors)),
            ScalarFamily(prefix + "scheduler_skipped_runs", "Scheduled runs not started, by "
                         "reason: overrun (the previous run was still in flight), capacity "
                         "(max_in_flight runs in flight), late (the loop reached it after "
                         "max_lateness)", "counter", ("probe", "reason"),
                         lambda p: _all(p.skipped)),
            ScalarFamily(prefix + "probe_value", "What a probe's last run measured "
                         "(Observation.values: latency, memory ratio, stuck payments, "
                         "certificate days left)", "gauge", ("probe", "value"),
                         lambda p: _all(p.values)),
        )
        registry.register(self)

    # -- updates (event loop) -----------------------------------------------------------
    def run(self, probe: str, status: str, duration: float, success: float,
            errored: bool) -> None:
        """One finished run: its status count, duration, success, crash or hang."""
        state = self._state(probe)
        runs = state.runs.get(status)
        if runs is None:
            runs = state.runs[status] = state.keyed("status", status)
        runs.value += 1.0
        self._observe(state, duration)
        if state.success is None:
            state.success = state.series()
        state.success.value = success
        if errored:
            if state.errors is None:
                state.errors = state.series()
            state.errors.value += 1.0

    def skip(self, probe: str, reason: str, missed: int) -> None:
        state = self._state(probe)
        series = state.skipped.get(reason)
        if series is None:
            series = state.skipped[reason] = state.keyed("reason", reason)
        series.value += missed

    def observe_values(self, probe: str, values: Mapping[str, float]) -> None:
        if not values:
            return
        state = self._state(probe)
        for name, value in values.items():
            series = state.values.get(name)
            if series is None:
                series = state.values[name] = state.keyed("value", name)
            series.value = float(value)

    def forget(self, probe: str) -> None:
        """Drop a probe's series (it left the config)."""
        self._probes.pop(probe, None)

    def _state(self, probe: str) -> ProbeState:
        state = self._probes.get(probe)
        if state is None:
            state = self._probes[probe] = ProbeState(probe)
        return state

    def _observe(self, state: ProbeState, duration: float) -> None:
        hist = state.duration
        if hist is None:
            hist = state.duration = Buckets({"probe": state.name}, state.text,
                                            [0.0] * len(self.bounds))
        hist.total += duration
        hist.counts[bisect_left(self.bounds, duration)] += 1.0  # the first bound >= it

    # -- reads (any thread) -------------------------------------------------------------
    def describe(self) -> Iterable[Metric]:
        return [Metric(f.name, f.documentation, f.kind) for f in self.families]

    def collect(self) -> Iterable[Metric]:
        probes = list(self._probes.values())  # a copy: reloads may drop probes meanwhile
        return [ProbeFamily(family, probes) for family in self.families]
