"""Where the agent's resident memory goes: VmRSS after each import, on Debian's python3.

`python3 -s -m testbed.bench.import_rss` prints one JSON line (MiB): the bare interpreter, then what
PyYAML, prometheus-client and the agent's own modules each add.
"""

import json


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return -1.0


def main() -> None:
    steps = {"interpreter": _rss_mib()}
    import yaml  # noqa: F401, PLC0415 - measured one import at a time

    steps["yaml"] = _rss_mib()
    import prometheus_client  # noqa: F401, PLC0415

    steps["prometheus_client"] = _rss_mib()
    import ip_masq_agent.cli  # noqa: F401, PLC0415

    steps["agent"] = _rss_mib()
    print(json.dumps(steps))


if __name__ == "__main__":
    main()
