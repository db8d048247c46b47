"""A minimal kubelet for sandbox nodes: a rendered DaemonSet's pod read, its volumes laid out."""
