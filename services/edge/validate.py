"""``python -m services.edge.validate FOLDER``: check every tenant config before a deploy.

Exit 0 when every file validates; else 1, one line per problem naming the file and the
field path (``bad.json: plan: Input should be 'free', 'standard' or 'production'``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .domain.tenant_config import check_folder

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m services.edge.validate FOLDER", file=sys.stderr)
        return 2
    folder = Path(args[0])
    if not folder.is_dir():
        print(f"{folder}: not a folder", file=sys.stderr)
        return 2
    configs, problems = check_folder(folder)
    for problem in problems:
        print(f"{folder / problem.file}: {problem.path or '$'}: {problem.message}")
    if not problems:
        print(f"{len(configs)} tenant config(s) valid")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
