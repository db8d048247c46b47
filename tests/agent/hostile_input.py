"""Hostile config documents shared by the parser tests and the agent-process tests."""


def alias_bomb(levels: int = 9) -> str:
    """The billion laughs in YAML: each level a list of nine of the level below (~365 bytes)."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def bomb_in(key: str) -> str:
    """The bomb as the value of one typed field (the anchors live under an ignored key)."""
    bomb = alias_bomb()
    return "defs:\n" + "".join(f"  {line}\n" for line in bomb.splitlines()) + f"{key}: *a8\n"
