"""mini-motion: the shipped AnimateDiff recipe (python -m scripts.mini_motion.train ...), evaluation, probe."""
