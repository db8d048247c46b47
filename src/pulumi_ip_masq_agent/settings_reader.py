"""Raw stack config strings (as the Pulumi CLI passes them) decoded into typed values."""

import json
import re
from collections.abc import Mapping
from typing import Final

from pulumi_ip_masq_agent.arguments import closest
from pulumi_ip_masq_agent.monitoring import label_problem
from pulumi_ip_masq_agent.settings_model import (
    DEFAULTS,
    SettingsError,
    SubnetPath,
)
from pulumi_ip_masq_agent.settings_model import (
    config_key as _key,
)

_SUBNET_PATH: Final = re.compile(r"projects/([^/]+)/regions/([^/]+)/subnetworks/([^/]+)")


# Keys renamed to the component argument's schema name (one name per setting); the old ones
# are read one more release, with a warning.
RENAMED_KEYS: Final = {
    "agentImage": "image",
    "agentBackend": "backend",
    "masqLinkLocalIPv6": "masqLinkLocalIpv6",
}


def renamed_keys(raw: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """`raw` with every old key under its new name, and a note for each one used."""
    keys = dict(raw)
    notes = []
    for old, new in RENAMED_KEYS.items():
        if old not in keys:
            continue
        value = keys.pop(old)
        if new in keys and keys[new] != value:
            raise SettingsError(
                f"{_key(old)}: {value!r} (the old name of {new}) contradicts {new} {keys[new]!r}"
            )
        keys[new] = value
        notes.append(
            f"{_key(old)} is deprecated and goes in the next release: rename it to {_key(new)}"
        )
    return keys, tuple(notes)


class SettingsReader:
    """Decodes raw config strings (as the Pulumi CLI passes them) into typed values."""

    def __init__(self, raw: Mapping[str, str]) -> None:
        raw, self.notes = renamed_keys(raw)
        unknown = sorted(set(raw) - set(DEFAULTS))
        if unknown:
            guess = closest(unknown[0], list(DEFAULTS))
            hint = f"did you mean {guess}?" if guess else "see Pulumi.yaml"
            raise SettingsError(f"{_key(unknown[0])}: unknown config key ({hint})")
        self._raw = raw

    def text(self, name: str) -> str:
        default = DEFAULTS[name]
        assert isinstance(default, str)
        return self._raw.get(name, default)

    def optional(self, name: str) -> str | None:
        return self.text(name) or None

    def choice(self, name: str, allowed: tuple[str, ...]) -> str:
        value = self.text(name)
        if value not in allowed:
            raise SettingsError(f"{_key(name)}: {value!r} is not one of {', '.join(allowed)}")
        return value

    def flag(self, name: str) -> bool:
        default = DEFAULTS[name]
        assert isinstance(default, bool)
        value = self._raw.get(name)
        if value is None:
            return default
        if value not in ("true", "false"):
            raise SettingsError(f"{_key(name)}: {value!r} is not a boolean (true or false)")
        return value == "true"

    def integer(self, name: str) -> int:
        default = DEFAULTS[name]
        assert isinstance(default, int)
        value = self._raw.get(name)
        if value is None:
            return default
        if not re.fullmatch(r"-?[0-9]+", value):
            raise SettingsError(f"{_key(name)}: {value!r} is not an integer")
        return int(value)

    def strings(self, name: str) -> tuple[str, ...]:
        value = self._raw.get(name)
        if value is None:
            default = DEFAULTS[name]
            assert isinstance(default, list)
            return tuple(default)
        try:
            decoded = json.loads(value)
        except json.JSONDecodeError:
            decoded = None
        if not isinstance(decoded, list) or not all(isinstance(v, str) for v in decoded):
            raise SettingsError(f"{_key(name)}: {value!r} is not a list of strings")
        return tuple(decoded)


def monitoring_labels(entries: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """`name=value` entries as label pairs, each checked as Kubernetes checks labels."""
    labels: dict[str, str] = {}
    for index, entry in enumerate(entries):
        name, equals, value = entry.partition("=")
        where = f"{_key('monitoringLabels')}[{index}]"
        if not equals:
            raise SettingsError(f"{where}: {entry!r} is not name=value")
        problem = label_problem(name, value)
        if problem is not None:
            raise SettingsError(f"{where}: {problem}")
        if name in labels:
            raise SettingsError(f"{where}: label {name!r} given twice")
        labels[name] = value
    return tuple(labels.items())


def subnet_path(text: str | None) -> SubnetPath | None:
    """An adopted subnet's coordinates from `existingSubnet`, or None when unset."""
    if text is None:
        return None
    match = _SUBNET_PATH.fullmatch(text)
    if match is None:
        raise SettingsError(
            f"{_key('existingSubnet')}: {text!r} is not "
            "projects/PROJECT/regions/REGION/subnetworks/NAME"
        )
    return SubnetPath(*match.groups())
