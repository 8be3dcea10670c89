"""What a process tells about itself: Prometheus metrics (:mod:`.metrics`), OpenTelemetry traces
(:mod:`.tracing`) and the ids that log lines carry (:mod:`.context`)."""
