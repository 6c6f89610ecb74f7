"""RAFT chatbot builder: index a corpus, generate RAFT data, fine-tune, evaluate and chat.

Heavy libraries (torch, transformers, sentence-transformers, trl, peft, gradio) are imported
inside the functions that need them, so importing this package and `raft --help` stay fast.
"""

__version__ = "0.1.0"
