"""Pulumi components: CIDR derivation, the GKE network and cluster, the agent DaemonSet."""
