"""The block library: one module per category. Every Block subclass defined here is registered."""
