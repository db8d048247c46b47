"""Kernel backends: each renders a DesiredRules plan and applies it in one atomic transaction."""
