"""Serve stage: reads an index and a model directory, answers questions with citations.

The chat engine, local and HTTP generators, batching and streaming, the OpenAI-compatible API,
feedback and monitoring. Run by `raft chat` (with apps/chat_app.py) and `raft serve`.
"""
