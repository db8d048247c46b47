"""The Pulumi program: stack config -> network, cluster, agent image -> ConfigMap + DaemonSet."""

from pathlib import Path

import pulumi

from pulumi_ip_masq_agent.settings import read_settings
from pulumi_ip_masq_agent.stack import build_stack

HERE = Path(__file__).resolve().parent

for name, value in build_stack(read_settings(), agent_context=HERE / "agent_image").items():
    pulumi.export(name, value)
