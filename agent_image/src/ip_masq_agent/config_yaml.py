"""A config file's text as a mapping: JSON, or YAML 1.1 as upstream reads it, bounded.

Two YAML loaders read alike here: PyYAML's pure-Python one is the reference for acceptance and
error messages, libyaml's is used where it reads a document exactly as the pure one would.
Where it does, the bounds on a document's size are counted as libyaml builds it (one parse);
elsewhere a walk of the parser's events checks them before anything is built.
"""

import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final

import yaml

from ip_masq_agent.config_error import ConfigError
from ip_masq_agent.quoting import clipped
from ip_masq_agent.yaml_resolve import SlashScalarsAreStrings

# What a document may build, whatever its size in bytes: a few hundred bytes of nested YAML
# aliases expand to hundreds of millions of nodes, and a 1 MiB list of one-character items
# costs PyYAML ~150 MiB. 60,000 nodes hold the largest list any backend accepts (50,000
# CIDRs on nftables, `config_bounds.MAX_PLANNED_CIDRS_NFTABLES`) with room for the other keys
# and a few thousand exceptions; at 50,000 that list itself was refused for its keys.
MAX_YAML_NODES: Final = 60_000
# Deeper than any config; the pure loader's own recursion gives out a little further down.
MAX_YAML_DEPTH: Final = 200


class _Yaml11Booleans:
    """YAML 1.1's one-letter booleans, which upstream's YAML library (go-yaml v2) resolves too.

    PyYAML knows yes/no/on/off/true/false but not y/Y/n/N; `masqLinkLocal: y` is true upstream.
    """

    bool_values: ClassVar[dict[str, bool]] = {
        **yaml.SafeLoader.bool_values,
        "y": True,
        "n": False,
    }


class PureYamlLoader(SlashScalarsAreStrings, _Yaml11Booleans, yaml.SafeLoader):
    """PyYAML's pure-Python safe loader: the reference for acceptance and error messages."""


_C_SAFE_LOADER: type | None = getattr(yaml, "CSafeLoader", None)
LibYamlLoader: type | None = (
    None
    if _C_SAFE_LOADER is None
    else type("LibYamlLoader", (SlashScalarsAreStrings, _Yaml11Booleans, _C_SAFE_LOADER), {})
)
for _loader in (PureYamlLoader, LibYamlLoader):
    if _loader is not None:
        _loader.add_implicit_resolver(  # type: ignore[attr-defined]
            "tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"), list("yYnN")
        )
# libyaml's composer recurses in C without Python's recursion check: a few thousand levels of
# `[` crash the process. Deeper documents go to the pure loader, which refuses them cleanly.
_LIBYAML_MAX_DEPTH: Final = 100
# The characters configs are written in. libyaml and PyYAML disagree at the edges (a BOM past
# the start, NEL line breaks, tabs, tags, block scalars ending in a comment); a document with
# any other character goes to the reference loader, at pure-Python speed.
_LIBYAML_TEXT: Final = re.compile(r"[A-Za-z0-9 \n.:/,_\-\[\]{}'\"#]*")


def yaml_loader_for(text: str) -> type:
    """libyaml when it reads `text` exactly as the pure loader would, else the pure loader."""
    try:
        return check_yaml_shape(text, "yaml")
    except ConfigError:
        return PureYamlLoader  # refused anyway; the reference loader says how it reads


def load_yaml(text: str, loader: type | None = None) -> Any:
    """YAML 1.1 as upstream reads it: libyaml's speed where it is safe, else pure Python.

    Acceptance and error messages are always the pure loader's: anything libyaml might read
    differently (a parse error, non-printable characters, deep nesting, aliases, directives)
    is loaded by the pure loader. `loader` forces one (tests compare the two).
    """
    return yaml.load(text, Loader=loader or yaml_loader_for(text))


def _too_many_values(source: str) -> ConfigError:
    return ConfigError(
        f"{source}: more than {MAX_YAML_NODES} YAML values; no config needs that many"
    )


class _TooManyNodesError(Exception):
    """More nodes than a config has: raised from inside libyaml's composer to stop it."""


class _TooDeepForLibYamlError(Exception):
    """Nested past libyaml's safe depth: stop composing, the event walk decides instead."""


class _CountingLibYaml:
    """Loader mixin: bounds nodes and nesting while libyaml composes, instead of a walk before.

    libyaml's composer calls `descend_resolver` before each node and `ascend_resolver` after,
    so the bounds stop it at the first excess, as `check_yaml_shape`'s walk of the events does,
    without parsing the text twice (a fifth of loading 50,000 CIDRs). The base methods serve
    path resolvers only, which safe loaders have none of (`_COUNTED_LOADER` is made only then):
    not calling them saves two calls a node.
    """

    nodes = 0
    depth = 0

    def descend_resolver(self, parent: Any, index: Any) -> None:
        self.nodes += 1
        self.depth += 1
        if self.nodes > MAX_YAML_NODES:
            raise _TooManyNodesError
        if self.depth > _LIBYAML_MAX_DEPTH:
            raise _TooDeepForLibYamlError  # before the C recursion goes deeper

    def ascend_resolver(self) -> None:
        self.depth -= 1

    def construct_sequence(self, node: Any, deep: bool = False) -> list[Any]:
        """The safe constructor's list, a string item taken as is (its `construct_yaml_str`).

        `construct_object` per item memoises it for aliases, which this text cannot hold;
        skipping it for the strings a CIDR list is made of saves most of constructing it.
        """
        if not isinstance(node, yaml.SequenceNode):
            return super().construct_sequence(node, deep)  # type: ignore[misc,no-any-return]
        construct = self.construct_object  # type: ignore[attr-defined]
        return [
            item.value
            if item.tag == _STR_TAG and type(item) is yaml.ScalarNode
            else construct(item, deep=deep)
            for item in node.value
        ]


_STR_TAG: Final = "tag:yaml.org,2002:str"
_COUNTED_LOADER: type | None = (
    None
    if LibYamlLoader is None or LibYamlLoader.yaml_path_resolvers  # type: ignore[attr-defined]
    else type("CountedLibYamlLoader", (_CountingLibYaml, LibYamlLoader), {})
)
_NOT_LOADED: Final = object()


def _load_counted(text: str, source: str) -> Any:
    """`text` loaded by libyaml, bounded as it composes; `_NOT_LOADED` where the walk decides.

    Only text in `_LIBYAML_TEXT`'s characters comes here: it cannot hold an anchor (`&`), an
    alias (`*`), a tag (`!`) or a directive (`%`), so the walk could only have refused it for
    its size, or sent it to the pure loader for a second document or a syntax error, which
    libyaml raises too. Anything but a clean load or too many nodes goes the walk's way, so the
    answer and every message are the walk's.
    """
    if _COUNTED_LOADER is None or not _LIBYAML_TEXT.fullmatch(text):
        return _NOT_LOADED
    try:
        return yaml.load(text, Loader=_COUNTED_LOADER)
    except _TooManyNodesError:
        raise _too_many_values(source) from None
    except (_TooDeepForLibYamlError, yaml.YAMLError, ValueError, RecursionError):
        return _NOT_LOADED  # the walk and the reference loader say what is wrong, in their words


def check_yaml_shape(text: str, source: str, loader: type | None = None) -> type:
    """Refuse anchors and aliases, and more values or nesting than any config has.

    Returns the loader to read `text` with (the one given, else libyaml where it reads it
    exactly as the pure loader would): one walk of the events answers both.

    Walks the parser's events (constant memory, stops at the first excess) before anything
    is built: libyaml's event parser for text in the characters it reads as the pure loader
    does (fast), else the pure one. No ConfigMap needs an alias, and refusing them is the only
    way an expanded alias bomb is never built, iterated or quoted. A syntax error ends the walk
    quietly: the load that follows reports it in the reference loader's words.
    """
    forced = loader
    if loader is None:
        fast = LibYamlLoader is not None and _LIBYAML_TEXT.fullmatch(text)
        loader = LibYamlLoader if fast else PureYamlLoader
    nodes = depth = deepest = documents = 0
    plain = True  # one document, no directives: libyaml reads it as the pure loader does
    try:
        for event in yaml.parse(text, Loader=loader):  # type: ignore[arg-type]
            anchor = getattr(event, "anchor", None)
            if isinstance(event, yaml.AliasEvent) or anchor is not None:
                what = "alias *" if isinstance(event, yaml.AliasEvent) else "anchor &"
                line = event.start_mark.line + 1 if event.start_mark is not None else "?"
                raise ConfigError(
                    f"{source}: YAML {what}{clipped(str(anchor), 40)} at line {line}:"
                    " anchors and aliases are not accepted in a config; write the values out"
                )
            if isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
                nodes += 1
                if nodes > MAX_YAML_NODES:
                    raise _too_many_values(source)
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                deepest = max(deepest, depth)
                if depth > MAX_YAML_DEPTH:
                    raise ConfigError(f"{source}: nested too deeply to be a config")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
            elif isinstance(event, yaml.DocumentStartEvent):
                documents += 1
                plain = plain and documents == 1 and event.version is None and not event.tags
    except yaml.YAMLError:
        # The pure loader produces the (reference) error message.
        return forced or PureYamlLoader
    if forced is not None:
        return forced
    fast_loader = LibYamlLoader
    if fast_loader is not None and loader is fast_loader and plain:
        return fast_loader if deepest <= _LIBYAML_MAX_DEPTH else PureYamlLoader
    return PureYamlLoader


def load_document(text: str, source: str, loader: type | None = None) -> Mapping[str, Any]:
    """The document's top-level mapping, keys in the order upstream's decoder sees them."""
    is_json = text.lstrip().startswith("{")
    # A ConfigError (a ValueError) from the bounds must not be re-worded below: outside the try.
    document = _NOT_LOADED if is_json or loader is not None else _load_counted(text, source)
    if document is _NOT_LOADED and not is_json:
        loader = check_yaml_shape(text, source, loader)
    try:
        if document is _NOT_LOADED:
            document = json.loads(text) if is_json else load_yaml(text, loader)
    except (json.JSONDecodeError, yaml.YAMLError) as err:
        first_line = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ConfigError(f"{source}: not valid JSON/YAML: {clipped(first_line)}") from None
    except RecursionError:
        # `[[[[...` a hundred thousand deep fits in a ConfigMap; no config nests like that.
        raise ConfigError(f"{source}: nested too deeply to be a config") from None
    except ValueError as err:
        # Python's own limits, e.g. an integer of more than 4300 digits.
        raise ConfigError(f"{source}: not a usable document: {clipped(str(err))}") from None
    if document is None:
        raise ConfigError(f"{source}: empty config document (delete the file to use defaults)")
    if not isinstance(document, dict):
        raise ConfigError(
            f"{source}: config must be a mapping of keys, got {type(document).__name__}"
        )
    if not is_json:
        # Upstream turns YAML into JSON through a Go map, which sorts the keys; the last of
        # two spellings of one key (`nonMasqueradeCIDRs`, `NONMASQUERADECIDRS`) wins in that
        # order. JSON documents reach its decoder as written, so theirs keep document order.
        document = dict(sorted(document.items(), key=lambda item: str(item[0])))
    return document
