"""The one error a config document is refused with, shared by its reading and its checks."""


class ConfigError(ValueError):
    """A config document that must be rejected as a whole; the message is one line."""
