"""Entry point of the component provider plugin (PulumiPlugin.yaml beside this file)."""

from pulumi_ip_masq_agent.provider import main

if __name__ == "__main__":
    main()
