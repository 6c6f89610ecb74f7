"""Eval stage: reads an index, test questions and models, writes a report directory.

RAG-only vs RAFT vs DSF with strict and lenient metrics, paired bootstrap CIs, per-question JSONL, plots.
Run by `raft eval`.
"""
