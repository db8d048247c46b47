"""CrossGuard policy pack guarding the ip-masq-agent ConfigMap, its DaemonSet and the pod ranges."""
