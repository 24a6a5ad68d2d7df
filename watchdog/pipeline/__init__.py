"""Detection, in pipeline order: probe (acquire) -> observation -> classifier (pure) ->
incidents, wired by `PipelineEngine` and driven on fixed rates by `ProbeScheduler`.

    probe.py        the probe contract (`Probe`, `ProbeType`, `ProbeContext`, `ProbeRegistry`)
    observation.py  what one run saw, as a value; ordered `Status` (UNKNOWN is never "down")
    scheduler.py    `ProbeScheduler`: fixed-rate runs behind one error boundary
    capacity.py     load shedding: runs in flight bounded, late runs skipped and counted
    blocking.py     one bounded thread pool per kind of blocking peer, queue time not charged
    classifier.py   `HysteresisPolicy` + `classify`: observation -> verdict, no I/O
    incidents.py    `IncidentBook`: open / update / resolve with a timeline
    engine.py       `PipelineEngine`: scheduler result -> classifier -> incidents -> metrics
"""
