"""Chainlit glue: handlers, Redis data layer, auth, uploads, streaming, charts, memory panel.

Only ``app.py`` imports this package. Modules here import the agent, importer and memory
lazily so the chat still starts (and says what is missing) while a piece is unavailable.
"""
