"""mini-poem: data preparation, training and evaluation (python -m scripts.mini_poem.train ...)."""
