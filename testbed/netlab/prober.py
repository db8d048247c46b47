"""Continuous prober: asks echo servers for the source they saw, over and over, with timestamps.

Run inside a namespace:
`python -m testbed.netlab.prober --output FILE --duration 60 udp:10.0.0.1:7777`.
Every probe is a fresh flow: a new socket on a source port not used for the last 20000
probes. A random ephemeral port can repeat one whose conntrack entry is still alive (UDP
entries live 30 s), and the packet would then carry that entry's old NAT decision.
"""

import argparse
import itertools
import json
import random
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from testbed.netlab.lab import Lab, Namespace
from testbed.netlab.probe import Target, ask

# Source ports the prober rotates through: below the pods' ephemeral range (32768-60999) and
# clear of the echo port, so no other socket in the pod competes for them.
PROBE_PORTS = range(12000, 32000)


@dataclass(frozen=True)
class Sample:
    at: float  # wall-clock time the probe was sent
    target: Target
    seen: str | None


def read_samples(path: Path) -> list[Sample]:
    """Every complete line the prober wrote so far."""
    samples = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # the line being written right now
        samples.append(Sample(record["at"], Target.parse(record["target"]), record["seen"]))
    return samples


class BackgroundProber:
    """A prober process in a lab namespace, writing samples to a file the caller reads."""

    def __init__(
        self,
        lab: Lab,
        ns: Namespace,
        targets: Sequence[Target],
        output: Path,
        *,
        duration: float = 120.0,
        timeout: float = 0.5,
        gap: float = 0.02,
    ) -> None:
        self.output = output
        output.write_text("")
        self._process = lab.spawn(
            ns,
            *ns.python(
                "testbed.netlab.prober",
                "--output",
                str(output),
                "--duration",
                str(duration),
                "--timeout",
                str(timeout),
                "--gap",
                str(gap),
                *(t.spec() for t in targets),
            ),
            ready_line="ready",
        )

    def samples(self) -> list[Sample]:
        return read_samples(self.output)

    def wait_rounds(self, rounds: int, timeout: float = 10.0) -> list[Sample]:
        """Wait (bounded) until `rounds` more samples of every target have arrived."""
        start = len(self.samples())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            samples = self.samples()
            fresh = samples[start:]
            counts: dict[Target, int] = {}
            for sample in fresh:
                counts[sample.target] = counts.get(sample.target, 0) + 1
            if counts and min(counts.values()) >= rounds:
                return samples
            time.sleep(0.05)
        raise TimeoutError(f"prober wrote no {rounds} fresh rounds within {timeout}s")

    def stop(self) -> list[Sample]:
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return self.samples()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", required=True)
    parser.add_argument("--duration", type=float, default=120.0)
    parser.add_argument("--timeout", type=float, default=0.5)
    parser.add_argument("--gap", type=float, default=0.02)
    parser.add_argument("targets", nargs="+")
    args = parser.parse_args(argv)
    targets = [Target.parse(spec) for spec in args.targets]
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    deadline = time.monotonic() + args.duration
    start = random.randrange(len(PROBE_PORTS))  # another prober in this pod starts elsewhere
    ports = itertools.cycle([*PROBE_PORTS[start:], *PROBE_PORTS[:start]])
    with Path(args.output).open("a") as out:
        while not stopping and time.monotonic() < deadline:
            for target in targets:
                at = time.time()
                seen = ask(target, args.timeout, source_port=next(ports))
                out.write(json.dumps({"at": at, "target": target.spec(), "seen": seen}) + "\n")
                out.flush()
            time.sleep(args.gap)


if __name__ == "__main__":
    main()
