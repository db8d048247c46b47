"""Strict component arguments: unknown keys and bad plain values fail before any resource exists.

Every message is one line, `<Component> <name>: <argument>: <what is wrong> (<allowed>)`, so
it reads the same from Python, from another language's SDK and from the engine's log.
Values known only as Outputs are checked where they resolve, by the same functions.
"""

import difflib
import re
from collections.abc import Collection, Mapping
from typing import Any, Final

import pulumi


class ArgumentError(ValueError):
    """A component argument that cannot be used; the message is one line naming it."""


class ResolvedInputError(pulumi.RunError):
    """An argument found wrong only once its Outputs resolved (a range read from a resource).

    A RunError, not a ValueError: the SDK re-raises a ValueError from an input it serializes
    inside two lines of its own ("While processing input: ... / ValueError has risen: ..."),
    and prints a RunError as its message alone, so the user reads the same one line.
    """


def _normal(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def closest(key: str, known: Collection[str]) -> str | None:
    """The known argument `key` most likely meant: the same letters in another case or
    spelling (`cidrLimit`, `cidrlimit` -> `cidr_limit`), else the nearest by edit distance."""
    by_normal = {_normal(k): k for k in known}
    wanted = _normal(key)
    if wanted in by_normal:
        return by_normal[wanted]
    # A shortened name (`resync`, `masq_link`): the one argument it begins, if only one.
    begun = [k for n, k in by_normal.items() if len(wanted) >= 4 and n.startswith(wanted)]
    if len(begun) == 1:
        return begun[0]
    found = difflib.get_close_matches(wanted, list(by_normal), n=1, cutoff=0.75)
    return by_normal[found[0]] if found else None


def check_known(where: str, args: Mapping[str, Any], args_type: type) -> None:
    """Every key of `args` is an argument of `args_type` (a TypedDict); else one line naming it
    and the argument it probably meant."""
    known = list(args_type.__annotations__)  # declaration order; no type is evaluated
    for key in args:
        if key in known:
            continue
        guess = closest(key, known)
        hint = f" (did you mean {guess}?)" if guess else f" (known: {', '.join(known)})"
        raise ArgumentError(f"{where}: {key}: unknown argument{hint}")


def is_plain(value: object) -> bool:
    """Known now: neither an Output nor an awaitable."""
    return not isinstance(value, pulumi.Output) and not hasattr(value, "__await__")


def check_choice(where: str, key: str, value: object, allowed: Collection[str]) -> None:
    if is_plain(value) and value not in allowed:
        raise ArgumentError(f"{where}: {key}: {value!r} is not one of {', '.join(allowed)}")


def check_list(where: str, key: str, value: object, *, non_empty: bool = False) -> None:
    """A list, not a string (which would be read letter by letter), and not empty if asked."""
    if not is_plain(value):
        return
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, (list, tuple)):
        raise ArgumentError(
            f"{where}: {key}: {value!r} is a {type(value).__name__}, not a list (write [{value!r}])"
        )
    if non_empty and not value:
        raise ArgumentError(f"{where}: {key}: empty (at least one is needed)")


def check_text(where: str, key: str, value: object) -> None:
    if is_plain(value) and (not isinstance(value, str) or not value.strip()):
        raise ArgumentError(f"{where}: {key}: {value!r} is empty or not a string")


def check_count(where: str, key: str, value: object, *, minimum: int = 0) -> None:
    # bool is an int to Python; `True` for a limit is a mistake, not 1.
    if is_plain(value) and (
        isinstance(value, bool) or not isinstance(value, int) or value < minimum
    ):
        raise ArgumentError(f"{where}: {key}: {value!r} is not a whole number >= {minimum}")


_QUANTITY: Final = re.compile(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|k|K|M|G|T|)")
_UNITS: Final = {
    **{"": 1, "k": 1000, "K": 1000, "M": 1000**2, "G": 1000**3, "T": 1000**4},
    **{"Ki": 1024, "Mi": 1024**2, "Gi": 1024**3, "Ti": 1024**4},
}


def memory_bytes(quantity: str) -> int | None:
    """A Kubernetes memory quantity in bytes (`96Mi`, `100M`, `1.5Gi`); None if not one."""
    match = _QUANTITY.fullmatch(quantity)
    return None if match is None else int(float(match.group(1)) * _UNITS[match.group(2)])


def check_resources(where: str, value: object, *, minimum_memory: int) -> None:
    """`resources`: only requests/limits of cpu and memory, and a memory limit the agent's
    largest accepted config fits in."""
    if not is_plain(value):
        raise ArgumentError(f"{where}: resources: must be a plain mapping, not an Output")
    if not isinstance(value, Mapping) or set(value) - {"requests", "limits"}:
        raise ArgumentError(f"{where}: resources: {value!r} is not requests/limits")
    for part, amounts in value.items():
        if not isinstance(amounts, Mapping) or set(amounts) - {"cpu", "memory"}:
            raise ArgumentError(f"{where}: resources.{part}: {amounts!r} is not cpu/memory")
    memory = value.get("limits", {}).get("memory")
    if memory is not None:
        size = memory_bytes(str(memory))
        if size is None or size < minimum_memory:
            raise ArgumentError(
                f"{where}: resources.limits.memory: {memory!r} is below the"
                f" {minimum_memory // 2**20}Mi the agent's largest accepted config needs"
            )
