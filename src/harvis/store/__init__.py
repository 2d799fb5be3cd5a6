"""The store: table models, the Database, and query functions (keyword-only, session first)."""
