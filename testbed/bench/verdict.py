"""How every section of the benchmark report words a goal's outcome: one wording, one place."""


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"
