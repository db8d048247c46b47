"""Which stacks a change touches, so the pull-request workflow previews only those."""

import argparse
import json
import re
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

STACK_FILE: Final = re.compile(r"Pulumi\.([A-Za-z0-9_-][A-Za-z0-9_.-]*)\.yaml")
# A change under any of these can alter what every stack deploys or how it is judged.
SHARED_PREFIXES: Final = (
    "Pulumi.yaml",
    "__main__.py",
    "src/",
    "policies/",
    "agent_image/",
    "requirements.txt",
    ".github/workflows/preview.yml",
)


def stack_of(path: str) -> str | None:
    """`Pulumi.dev.yaml` -> `dev`; None for any other path (stack files live at the root)."""
    match = STACK_FILE.fullmatch(path)
    return match.group(1) if match else None


def touched_stacks(changed: Iterable[str], stacks: Sequence[str]) -> list[str]:
    """Stacks whose file changed, or all of them when shared code or config changed."""
    touched: set[str] = set()
    for path in changed:
        if any(path == p or (p.endswith("/") and path.startswith(p)) for p in SHARED_PREFIXES):
            return sorted(stacks)
        stack = stack_of(path)
        if stack is not None and stack in stacks:
            touched.add(stack)
    return sorted(touched)


def main(argv: list[str] | None = None) -> int:
    """Print the touched stacks as a JSON list (a GitHub Actions matrix)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", required=True, help="git revision the change is compared to")
    parser.add_argument("--exclude", action="append", default=[], help="stack never previewed")
    options = parser.parse_args(argv)
    diff = subprocess.run(
        ["git", "diff", "--name-only", f"{options.base}...HEAD"],
        check=True,
        capture_output=True,
        text=True,
    )
    stacks = [
        s
        for p in Path().glob("Pulumi.*.yaml")
        if (s := stack_of(p.name)) and s not in options.exclude
    ]
    print(json.dumps(touched_stacks(diff.stdout.split(), stacks)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
