"""One validator: the agent, the component and the policy give every CIDR list the same verdict.

The agent's parser (`parse_config`), the component's derivation (`derive_non_masquerade_cidrs`)
and the `ip-masq-config-valid` policy all read CIDRs with `Prefix.parse` and judge a list
that exempts every destination with `config_bounds.exempting_everything`; fed the same lists,
they must accept and refuse alike, and refuse for the same reason.
"""

import json

import pytest

from ip_masq_agent.config import ConfigError, parse_config
from pulumi_ip_masq_agent.cidrs import CidrError, derive_non_masquerade_cidrs
from pulumi_ip_masq_agent.policy.config_valid import validate_ip_masq_config
from pulumi_ip_masq_agent.ranges import stack_range
from tests.policies.objects import CONFIGMAP, configmap
from tests.policies.policy_args import run_resource

# (CIDR list, None when accepted, else a phrase every refusal of it says).
CASES = [
    pytest.param(["10.0.0.0/8", "fd00::/8"], None, id="plain"),
    pytest.param(["10.0.0.0/08"], None, id="leading-zero-length"),
    pytest.param(["0.0.0.0/1"], None, id="half-of-everything"),
    pytest.param(["10.0.0.0/8", "10.0.0.0/8"], None, id="duplicate"),
    pytest.param(["0.0.0.0/0"], "0.0.0.0/0", id="ipv4-default-route"),
    pytest.param(["10.0.0.0/8", "::/0"], "::/0", id="ipv6-default-route"),
    pytest.param(["0.0.0.0/1", "128.0.0.0/1"], "merge into 0.0.0.0/0", id="halves"),
    pytest.param(["::/1", "8000::/1", "fd00::/8"], "merge into ::/0", id="ipv6-halves"),
    pytest.param(["10.0.0.1/8"], "has host bits set", id="host-bits"),
    pytest.param(["10.1/16"], "is not a CIDR", id="shorthand"),
    pytest.param(["010.0.0.0/8"], "is not a CIDR", id="leading-zero-octet"),
    pytest.param(["10.0.0.0/33"], "is not a CIDR", id="too-long"),
    pytest.param(["10.0.0.0/0008"], "is not a CIDR", id="four-digit-length"),
    pytest.param(["10.0.0.0/8 -j ACCEPT"], "is not a CIDR", id="injection"),
    pytest.param(["fd00::1%eth0/128"], "is not a CIDR", id="zone"),
]


def agent_verdict(cidrs: list[str]) -> str | None:
    document = json.dumps({"nonMasqueradeCIDRs": cidrs})
    try:
        parse_config(document, enable_ipv6=True)
    except ConfigError as err:
        return str(err)
    return None


def component_verdict(cidrs: list[str]) -> str | None:
    ranges = [stack_range(f"key{index}", cidr) for index, cidr in enumerate(cidrs)]
    try:
        derive_non_masquerade_cidrs(ranges, ipv6_enabled=True, cidr_limit=64)
    except CidrError as err:
        return str(err)
    return None


def policy_verdict(cidrs: list[str]) -> str | None:
    props = configmap(json.dumps({"nonMasqueradeCIDRs": cidrs}))
    violations = run_resource(validate_ip_masq_config, CONFIGMAP, props, name="cm", config={})
    return "; ".join(violations) or None


@pytest.mark.parametrize(("cidrs", "refusal"), CASES)
def test_agent_component_and_policy_agree(cidrs: list[str], refusal: str | None) -> None:
    verdicts = {
        "agent": agent_verdict(cidrs),
        "component": component_verdict(cidrs),
        "policy": policy_verdict(cidrs),
    }
    if refusal is None:
        assert verdicts == {"agent": None, "component": None, "policy": None}
    else:
        for who, verdict in verdicts.items():
            assert verdict is not None and refusal in verdict, (who, verdict)
