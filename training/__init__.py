"""Training qabot's own answer-selection models from public reading-comprehension data.

Nothing here runs when qabot answers: it needs the ``train`` extra (datasets, accelerate,
scikit-learn) and writes the models that ``index/`` then ships and loads.
"""
