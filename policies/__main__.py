"""Entry point `pulumi preview --policy-pack policies` runs: wires the pack, nothing else."""

import sys
from pathlib import Path

# The Pulumi CLI runs this file by path; the repository root makes `policies` importable.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi_policy import PolicyPack

from pulumi_ip_masq_agent.policy.pack import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=POLICIES)
