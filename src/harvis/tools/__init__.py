"""Tools the assistant can use while it answers: built-in ones and the user's MCP servers."""
