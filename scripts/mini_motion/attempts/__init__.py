"""Abandoned mini-motion recipes, kept for their findings (README.md); the shipped recipe imports none of them."""
