"""`python -m ip_masq_agent`: the same as the `ip-masq-agent` command."""

import sys

from ip_masq_agent.cli import main

sys.exit(main())
