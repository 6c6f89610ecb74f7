"""Models: loads base models and tokenizers, builds the offline tiny base, exports tuned models.

Reads a model id or directory; writes model directories (tiny base, merged export).
Run by `raft tiny-model`, `raft export` and by every command that loads a model.
"""
