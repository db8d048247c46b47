"""Benchmarks of the agent's backends in netlab namespaces (scripts, not tests)."""
