"""The embedded LLM node: Ollama's HTTP API over llama.cpp, for machines without Ollama.

Start it with ``harvis llm-node``; build the app in tests with ``create_app(settings)``.
"""
