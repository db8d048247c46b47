"""Harness, not product: the offline render and CI helpers around the repository's own program."""
