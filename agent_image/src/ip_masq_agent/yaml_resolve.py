"""A shortcut through YAML's implicit typing for the scalar every big config is made of: a CIDR.

PyYAML (with libyaml too: the resolver is Python) tries each implicit type's regex on every
plain scalar whose first character could start one: a CIDR starts with a digit, so int,
float and timestamp are all tried, ~4 µs a CIDR, a third of loading 10,000 of them. No YAML
1.1 implicit type (null, bool, int, float, timestamp, merge, value, nor our y/n booleans)
contains a `/`, so a plain scalar with one is a string whatever the resolvers say: the same
answer, found without asking them.
"""

from typing import Any

import yaml


class SlashScalarsAreStrings:
    """Loader mixin: a plain scalar containing `/` resolves to `str` without the regexes."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and "/" in value:
            return yaml.resolver.BaseResolver.DEFAULT_SCALAR_TAG
        return super().resolve(kind, value, implicit)  # type: ignore[misc]
