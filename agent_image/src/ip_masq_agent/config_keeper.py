"""The config's lifecycle: defaults when there is no file, the last good config when it breaks."""

import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ip_masq_agent.config import MAX_CONFIG_BYTES, AgentConfig, ConfigError
from ip_masq_agent.logs import log_event

if TYPE_CHECKING:
    # Only the type: `render` reads the config file through this module without
    # prometheus_client (see cli.py).
    from ip_masq_agent.deferred_metrics import Metrics

ConfigParser = Callable[[str], AgentConfig]


class ConfigSource(Protocol):
    """Where the config document comes from; `read` returns None when there is none."""

    @property
    def name(self) -> str: ...

    def read(self) -> str | None: ...


class FileConfigSource:
    """The mounted ConfigMap file (a missing file is not an error: upstream uses defaults).

    Only a regular file is read, and at most one byte more than a ConfigMap can hold: a FIFO
    at the path would block the sync loop in `open` or `read`, a symlink to `/dev/zero` would
    be read without end. The open does not block, and the type is checked on the opened
    descriptor, so a swap between a check and the open changes nothing.
    """

    def __init__(self, path: str) -> None:
        self._path = Path(path)

    @property
    def name(self) -> str:
        return str(self._path)

    def read(self) -> str | None:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        with os.fdopen(fd, "rb") as file:
            mode = os.fstat(fd).st_mode
            if not stat.S_ISREG(mode):
                raise ConfigError(f"{self.name}: not a regular file ({_file_type(mode)})")
            data = file.read(MAX_CONFIG_BYTES + 1)
        if len(data) > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{self.name}: more than {MAX_CONFIG_BYTES} bytes, more than a ConfigMap can hold"
            )
        return data.decode("utf-8")


def _file_type(mode: int) -> str:
    for test, name in (
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a directory"),
    ):
        if test(mode):
            return name
    return "not a file"


class ConfigKeeper:
    """Reads the source at every sync and decides which config the rules follow.

    - no file before any good config: the defaults (upstream);
    - a valid document: it, from the defaults up;
    - an invalid, unreadable or (after a good one) vanished file: the last good config stays,
      and the problem is logged once per distinct message, counted and reported by `problem`.
    Unchanged contents are neither re-parsed nor re-counted.

    Loop thread only: `load` runs in the sync pass, and `state` and `problem` are read there;
    the HTTP threads see the state as the health tracker's copy (sync.health_tracker).
    """

    def __init__(
        self,
        *,
        source: ConfigSource,
        parse: ConfigParser,
        defaults: AgentConfig,
        metrics: "Metrics",
        logger: logging.Logger,
    ) -> None:
        self._source = source
        self._parse = parse
        self.defaults = defaults
        self._metrics = metrics
        self._log = logger
        self._config: AgentConfig | None = None
        self._last_text: str | None = None
        self._seen = False
        self._problem: str | None = None
        self._state = "current"
        self._logged_problem: str | None = None
        self._logged_warnings: tuple[str, ...] = ()

    @property
    def problem(self) -> str | None:
        """Why the rules do not follow the file as it is now; None when they do."""
        return self._problem

    @property
    def state(self) -> str:
        """The config's state in fixed words, for /healthz: never the file's text or values."""
        return self._state

    def _report(self, problem: str | None, result: str) -> None:
        self._problem = problem
        if problem is None:
            self._state = "current"
        elif result == "missing":
            self._state = "file disappeared; keeping the last good config"
        else:
            self._state = f"{result} (the log says why); {self._keeping()}"
        self._metrics.config_current.set(0 if problem else 1)
        if problem is not None and problem != self._logged_problem:
            log_event(
                self._log,
                logging.ERROR,
                "config not used",
                problem=problem,
                result=result,
                # /readyz says so too: `kubectl get ds` shows the node NotReady until it is fixed.
                ready="false until the file is fixed" if self._config else "false",
            )
        self._logged_problem = problem

    def load(self) -> AgentConfig | None:
        """The config to use now: the file's, the defaults, the last good one, or None."""
        try:
            text = self._source.read()
        except ConfigError as err:
            # Not a document at all (a FIFO, a device, too large): rejected like an invalid one.
            problem = f"{err}; {self._keeping()}"
            if problem != self._problem:
                self._metrics.config_reloads.labels(result="invalid").inc()
            self._seen = False
            self._report(problem, "invalid")
            return self._config
        except OSError as err:
            problem = f"{self._source.name}: cannot read ({err.strerror}); {self._keeping()}"
            if problem != self._problem:
                self._metrics.config_reloads.labels(result="unreadable").inc()
            self._seen = False  # parse whatever is readable next time
            self._report(problem, "unreadable")
            return self._config
        except UnicodeDecodeError as err:
            # Binary data is no document at all: reject it like any invalid one (it used to
            # escape as an exception and stop the agent).
            problem = (
                f"{self._source.name}: not UTF-8 text (byte {err.start}: "
                f"{err.object[err.start : err.start + 1]!r}); {self._keeping()}"
            )
            if problem != self._problem:
                self._metrics.config_reloads.labels(result="invalid").inc()
            self._seen = False
            self._report(problem, "invalid")
            return self._config
        if self._seen and text == self._last_text:
            return self._config
        self._seen = True
        self._last_text = text
        if text is None:
            return self._missing()
        try:
            config = self._parse(text)
        except ConfigError as err:
            self._metrics.config_reloads.labels(result="invalid").inc()
            self._report(f"{err}; {self._keeping()}", "invalid")
            return self._config
        self._metrics.config_reloads.labels(result="ok").inc()
        for warning in config.warnings:
            if warning not in self._logged_warnings:
                log_event(self._log, logging.WARNING, "config warning", warning=warning)
        self._logged_warnings = config.warnings
        if config != self._config:
            log_event(self._log, logging.INFO, "config loaded", path=self._source.name)
        self._config = config
        self._report(None, "ok")
        return config

    def _keeping(self) -> str:
        return "keeping the last good config" if self._config else "no good config yet"

    def _missing(self) -> AgentConfig:
        self._metrics.config_reloads.labels(result="missing").inc()
        if self._config is None:
            log_event(
                self._log, logging.INFO, "no config file, using defaults", path=self._source.name
            )
            self._config = self.defaults
            self._report(None, "missing")
        else:
            # Safer than upstream, which would fall back to the defaults and start
            # masquerading traffic to ranges the operator had excluded.
            self._report(
                f"{self._source.name}: file disappeared; keeping the last good config", "missing"
            )
        return self._config
