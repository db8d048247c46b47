"""Network-namespace lab: throwaway hosts, veth links and source-address probes on a real kernel."""
