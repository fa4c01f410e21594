"""One module per tab: widgets and their wiring to `studio.api`, nothing else."""
