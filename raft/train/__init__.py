"""Train stage: reads a RAFT dataset and a base model, writes a model directory (adapter, contract, card).

SFT with TRL + PEFT, DPO/KTO preference tuning, and an Optuna search over training knobs.
Run by `raft train`, `raft merge` and `raft tune`.
"""
