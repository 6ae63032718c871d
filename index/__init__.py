"""The qabot engine: sources, sentence splitting, embedding, the FAISS store, search, answers.

Nothing here imports Discord; heavy libraries (numpy, faiss, torch) are imported by the
modules that need them, never by this package's ``__init__``.
"""
