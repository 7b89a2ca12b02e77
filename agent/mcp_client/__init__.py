"""MCP clients: the AgentCore Gateway (per-request bearer token) and an optional web-search server."""
