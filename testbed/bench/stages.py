"""Benchmark 7, run inside a node namespace: a config edit split by stage, beside the tool's floor.

`python -m testbed.bench.stages --backend nftables --cidrs 10000 --family ipv4 --edits 10` wires the
backend as the agent does (`parse_flags`, `backend_settings`, the registry), puts N CIDRs in,
then makes `--edits` one-CIDR edits and times each stage the agent's sync goes through:

- load: the document parsed (`parse_config`, with the agent's CIDR memo kept across edits);
- plan: `plan_rules`;
- render: the expected view and the scripts (apply's time less the tools it runs);
- write: the tool writing the payload (`nft -f`, `iptables-restore`);
- verify: the look that proves the write (`observe()`, and any listing apply made).

The floor is the tool alone applying the very payload of the last edit again, onto the
kernel as that edit found it (the same process, the same input): no agent can write faster.
Prints one JSON line.
"""

import argparse
import ipaddress
import json
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

from ip_masq_agent.backends.base import Backend
from ip_masq_agent.backends.registry import default_backend_registry
from ip_masq_agent.cli import backend_settings
from ip_masq_agent.commands import CommandResult, SubprocessRunner
from ip_masq_agent.config import CidrMemo, ConfigError, new_cidr_memo, parse_config
from ip_masq_agent.flags import Options, parse_flags
from ip_masq_agent.heap import collection_paused
from ip_masq_agent.prefixes import Prefix
from ip_masq_agent.rules import Masquerade, plan_rules
from testbed.bench.workload import config_text, synthetic_cidrs

# Far from the lab's own fd00::/8: 2001:db8::/32 (documentation) cut into /64s with gaps.
_V6_BASE = int(ipaddress.IPv6Address("2001:db8::"))


def synthetic_cidrs_v6(count: int, *, offset: int = 0) -> tuple[Prefix, ...]:
    """`count` IPv6 /64s with a /64 gap after each: nothing merges."""
    return tuple(Prefix(6, _V6_BASE + ((offset + index) * 2 << 64), 64) for index in range(count))


class ToolClock:
    """The agent's command runner, timing every tool it starts."""

    def __init__(self) -> None:
        self._run = SubprocessRunner(timeout=120)
        self.calls: list[tuple[list[str], str | None, float]] = []

    def __call__(self, args: Sequence[str], *, stdin: str | None = None) -> CommandResult:
        started = time.perf_counter()
        result = self._run(args, stdin=stdin)
        self.calls.append((list(args), stdin, time.perf_counter() - started))
        return result


def is_write(args: Sequence[str]) -> bool:
    return args[0].endswith("-restore") or (args[0] == "nft" and "-f" in args)


STAGES = ("load", "plan", "render", "write", "verify", "total")
Writes = list[tuple[list[str], str | None]]


def _one_edit(
    text: str, options: Options, backend: Backend, clock: ToolClock, memo: CidrMemo
) -> tuple[dict[str, float], Writes]:
    """One config text through the agent's stages; the seconds of each, and the writes made."""
    masquerade = Masquerade(random_fully=options.random_fully, to_ports=options.to_ports)
    started = time.perf_counter()
    config = parse_config(
        text, enable_ipv6=options.enable_ipv6, cidr_memo=memo, backend=backend.name
    )
    loaded = time.perf_counter()
    desired = plan_rules(
        config, chain=options.masq_chain, enable_ipv6=options.enable_ipv6, masquerade=masquerade
    )
    planned = time.perf_counter()
    expected = backend.expected(desired)
    viewed = time.perf_counter()
    first_call = len(clock.calls)
    backend.apply(desired)
    applied = time.perf_counter()
    in_apply = clock.calls[first_call:]
    observed = backend.observe()
    done = time.perf_counter()
    if observed != expected:
        raise SystemExit("the kernel does not show the expected rules after a write")
    write = sum(seconds for call, _, seconds in in_apply if is_write(call))
    looks = sum(seconds for call, _, seconds in in_apply if not is_write(call))
    timed = {
        "load": loaded - started,
        "plan": planned - loaded,
        "render": (viewed - planned) + (applied - viewed - write - looks),
        "write": write,
        "verify": looks + (done - applied),
        "total": done - started,
    }
    return timed, [(call, stdin) for call, stdin, _ in in_apply if is_write(call)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backend", required=True)
    parser.add_argument("--cidrs", type=int, required=True)
    parser.add_argument("--family", choices=("ipv4", "ipv6"), default="ipv4")
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--floor-runs", type=int, default=5)
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)

    make = synthetic_cidrs if args.family == "ipv4" else synthetic_cidrs_v6
    path = args.workdir / f"stages-{args.backend}-{args.family}-{args.cidrs}.yaml"
    flags = [f"--backend={args.backend}", f"--config={path}"]
    options = parse_flags(flags + (["--enable-ipv6"] if args.family == "ipv6" else []))
    clock = ToolClock()
    backend = default_backend_registry().create(options.backend, backend_settings(options, clock))
    memo = new_cidr_memo()
    base = make(args.cidrs)
    stages: dict[str, list[float]] = {k: [] for k in STAGES}
    last_writes: Writes = []
    texts: list[str] = []
    for edit in range(args.edits + 1):  # edit 0 puts the list in: not an edit, not counted
        cidrs = base if edit == 0 else (*base[:-1], *make(1, offset=args.cidrs + edit))
        texts.append(config_text(cidrs))
        try:
            # As the agent's reconciler runs a pass: with the cyclic collector paused.
            with collection_paused():
                timed, last_writes = _one_edit(texts[-1], options, backend, clock, memo)
        except ConfigError as refused:  # beyond what the agent accepts: say so, time nothing
            print(
                json.dumps(
                    {
                        "backend": backend.name,
                        "family": args.family,
                        "cidrs": args.cidrs,
                        "refused": str(refused),
                    }
                ),
                flush=True,
            )
            return
        if edit == 0:
            backend.observe()  # as the agent's next resync would: the start is behind us
            continue
        for name, seconds in timed.items():
            stages[name].append(seconds)
    floor: list[float] = []
    for _ in range(args.floor_runs):
        # The kernel as the last edit found it (the edit before it applied again, untimed),
        # then the last edit's very writes replayed: an nftables edit makes new sets under
        # the other name, which a replay onto its own result would find taken.
        _one_edit(texts[-2], options, backend, clock, memo)
        first_call = len(clock.calls)
        for call, stdin in last_writes:
            if clock(call, stdin=stdin).returncode != 0:
                raise SystemExit(f"the floor's replay of {call[0]} failed")
        floor.append(sum(seconds for _, _, seconds in clock.calls[first_call:]))
    backend.cleanup()
    medians = {name: statistics.median(values) for name, values in stages.items()}
    print(
        json.dumps(
            {
                "backend": backend.name,
                "family": args.family,
                "cidrs": args.cidrs,
                "edits": args.edits,
                "stages": stages,
                "median": medians,
                "floor": statistics.median(floor),
                "floor_runs": floor,
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
