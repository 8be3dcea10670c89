"""Route handlers, one module per resource; each handler parses, calls a service, returns a model."""
