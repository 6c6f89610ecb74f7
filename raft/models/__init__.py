"""Models: loads base models and tokenizers, fetches the offline pretrained model, exports tuned models.

Reads a model id or directory; writes model directories (the converted offline model, merged export).
Run by `raft pull`, `raft export` and by every command that loads a model.
"""
