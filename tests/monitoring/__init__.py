"""Tests of what Prometheus and Grafana get: rules, PodMonitor, dashboard."""
