"""Entry point `pulumi preview --policy-pack policies` runs: wires the pack, nothing else.

The policies are the installed distribution's (`pulumi-ip-masq-agent[policy]`, named in
requirements.txt), so this directory is the whole pack: it can be published as it is."""

from pulumi_policy import PolicyPack

from pulumi_ip_masq_agent.policy.pack import PACK_NAME, POLICIES

PolicyPack(name=PACK_NAME, policies=POLICIES)
