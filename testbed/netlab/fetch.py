"""Tiny HTTP GET for use inside a namespace: prints one JSON line with the status and body.

Run inside a namespace: `python -m testbed.netlab.fetch http://127.0.0.1:10261/healthz`.
"""

import argparse
import json
import urllib.error
import urllib.request

from testbed.netlab.lab import Namespace


def get(url: str, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except OSError as err:
        return 0, str(err)


def fetch(ns: Namespace, url: str, timeout: float = 2.0) -> tuple[int, str]:
    """GET `url` from inside `ns`: (status, body); status 0 when nothing answered."""
    done = ns.run(
        *ns.python("testbed.netlab.fetch", "--timeout", str(timeout), url), timeout=timeout + 10
    )
    result = json.loads(done.stdout)
    return int(result["status"]), str(result["body"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("url")
    args = parser.parse_args(argv)
    status, body = get(args.url, args.timeout)
    print(json.dumps({"status": status, "body": body}))


if __name__ == "__main__":
    main()
