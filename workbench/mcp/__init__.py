"""The Model Context Protocol: agents served as MCP tools (``server``), and MCP servers' tools used by
agents (``client``)."""
