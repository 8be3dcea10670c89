"""Runtime ports: the event bus (in-process now; Redis with the distributed runtime)."""
