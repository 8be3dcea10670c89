"""The graph model (AutoGPT export format), its validation, import and the Python builder."""
