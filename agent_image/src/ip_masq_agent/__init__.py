"""Node agent that programs the ip-masq-agent NAT rules from its config file."""
