"""AgentCore Memory integration for conversation persistence."""
