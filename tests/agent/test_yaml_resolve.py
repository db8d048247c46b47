"""The `/` shortcut through implicit typing answers exactly what the resolvers would."""

import re
from collections.abc import Callable

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ip_masq_agent.config_yaml import LibYamlLoader, PureYamlLoader

LOADERS = [PureYamlLoader, *([LibYamlLoader] if LibYamlLoader is not None else [])]
# Characters every implicit type is written in, and `/`: the strings most like a number,
# a date or a boolean that still hold a slash.
_ALPHABET = "0123456789.:-+_eEtTxXoObB yYnN~/<=Zinfa"


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
@settings(max_examples=300, deadline=None)
@given(st.text(_ALPHABET, min_size=1, max_size=24).filter(lambda s: "/" in s))
def test_a_plain_scalar_with_a_slash_resolves_as_the_resolvers_would(
    loader: type, value: str
) -> None:
    reference = yaml.resolver.Resolver()
    reference.add_implicit_resolver(  # the y/n booleans the agent's loaders add
        "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
    )
    expected: Callable[..., str] = reference.resolve
    assert loader("").resolve(yaml.ScalarNode, value, (True, False)) == expected(
        yaml.ScalarNode, value, (True, False)
    )


@pytest.mark.parametrize("loader", LOADERS, ids=lambda loader: loader.__name__)
def test_cidrs_load_as_strings_and_other_scalars_as_before(loader: type) -> None:
    text = "a: [10.0.0.0/8, '192.168.0.0/16', 2001:db8::/32]\nb: [y, 10, 1.5, null, 2001-01-01]\n"
    document = yaml.load(text, Loader=loader)
    assert document["a"] == ["10.0.0.0/8", "192.168.0.0/16", "2001:db8::/32"]
    assert [type(v).__name__ for v in document["b"]] == ["bool", "int", "float", "NoneType", "date"]
