"""A stand-in for ufw (the test machines have no firewall to change): records rules in a file.

    fake_ufw.py STATE deny from IP          add a rule
    fake_ufw.py STATE delete deny from IP   remove it
    fake_ufw.py STATE status                list the rules, like `ufw status`
    fake_ufw.py STATE fail ...              exit 1 (a firewall that refuses)
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    state, args = Path(sys.argv[1]), sys.argv[2:]
    rules = state.read_text().split() if state.exists() else []
    if args[:1] == ["fail"]:
        print("ERROR: could not talk to the firewall", file=sys.stderr)
        return 1
    if args[:2] == ["deny", "from"]:
        rules.append(args[2])
    elif args[:3] == ["delete", "deny", "from"]:
        rules = [r for r in rules if r != args[3]]
    elif args == ["status"]:
        print("Status: active\n" + "\n".join(f"Anywhere  DENY  {r}" for r in rules))
        return 0
    state.write_text(" ".join(rules))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
