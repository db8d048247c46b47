"""The sync loop, split by concern (after kube-proxy's async runner and proxier health).

- `scheduler`: when to run (bounded frequency: asks coalesced, a minimum gap, a period, retry
  after failure), knowing nothing of the work;
- `reconciler`: one pass (load, plan, observe, write, verify), knowing nothing of time;
- `health_tracker`: the timestamps the loop reports; `verdict`: /healthz and /readyz computed
  from them where they are served; `drift_fight`: another writer undoing ours;
- `pass_reports`: what a running pass reports, passed on to the scheduler, tracker and fight;
- `plan_report`, `sweep`: what follows a pass (log and metrics of the plan, other backends'
  rules removed); `ip_masq_agent.heap` hands memory back, injected by the entry point;
- `guarded`: the run-time check that a shared field is touched only under its lock.

`ip_masq_agent.runner.SyncRunner` wires them together and states who owns which field.
"""
