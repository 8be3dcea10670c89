-- Agents served as MCP tools (workbench/mcp, /mcp and `workbench mcp`): whether a graph is one of its
-- owner's MCP tools. NULL follows the server's default (on in the local no-login mode, off with
-- accounts); true or false is the owner's choice. The value is the graph's, not a version's: it is
-- kept the same on every version (set on all of them; a new version takes it from the latest).
ALTER TABLE graphs ADD COLUMN mcp_tool boolean;

-- Listing a user's tools reads the active versions of their graphs (graphs_user_idx serves it).
