"""The change gate as a command (comms.budget.1): a CI step asks the running service
whether a change may land, and fails while the error-budget freeze holds adapter code.

    uv run python -m services.comms.gate --url http://comms:8000 [PATH ...]

Without paths it takes ``git diff --name-only <base>...HEAD``. Exit 0: the change may
land; 1: refused (adapter code while frozen); 2: the service could not be asked.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
from typing import Any

import httpx

__all__ = ["ask", "main"]


async def ask(client: httpx.AsyncClient, paths: list[str]) -> tuple[int, str]:
    """(exit code, message) for a change touching ``paths``."""
    try:
        answer = await client.post("/ops/gate", json={"paths": paths})
    except httpx.HTTPError as exc:
        return 2, f"could not ask the service: {exc}"
    body: Any = answer.json() if answer.content else {}
    if answer.status_code == 200:
        return 0, "allowed" + (" (adapters untouched)" if not body.get("adapters") else "")
    if answer.status_code == 409:
        return 1, f"refused: {body.get('message', '')} ({', '.join(body.get('adapters', []))})"
    return 2, f"unexpected answer {answer.status_code}: {answer.text[:200]}"


def _changed(base: str) -> list[str]:
    out = subprocess.run(
        ["git", "diff", "--name-only", f"{base}...HEAD"], capture_output=True, text=True, check=True
    )
    return [line for line in out.stdout.splitlines() if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("COMMS_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--token", default=os.environ.get("COMMS_OPS_TOKEN", "local-operator"))
    parser.add_argument("--base", default="main", help="what the change is compared with")
    parser.add_argument("paths", nargs="*")
    args = parser.parse_args(argv)
    paths = args.paths or _changed(args.base)
    if not paths:
        print("allowed (nothing changed)")
        return 0

    async def run() -> tuple[int, str]:
        headers = {"x-ops-token": args.token}
        async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=10.0) as client:
            return await ask(client, paths)

    code, message = asyncio.run(run())
    print(message, file=sys.stderr if code else sys.stdout)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
