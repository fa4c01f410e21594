"""mini-shapes: training, evaluation and the CFG / sampler studies (python -m scripts.mini_shapes.train ...)."""
