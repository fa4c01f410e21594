"""Model work on a Ray Serve cluster (STUDIO_BACKEND=ray): the web side (client) and the workers (worker)."""
