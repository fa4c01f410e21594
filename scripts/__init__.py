"""Scripts that make and measure the built-in mini models; run them as modules from the repository root."""
