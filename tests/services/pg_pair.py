"""A PostgreSQL primary and its streaming standby on 127.0.0.1, made for one test.

Both are fresh clusters in a temporary directory owned by the ``postgres`` user (the
server refuses to run as root), on free ports; the standby is a ``pg_basebackup -R`` of
the primary. ``promote()`` is the failover: ``pg_ctl promote`` on the standby after the
primary is stopped hard. Everything is stopped and removed on exit.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require_or_skip

BIN = Path("/usr/lib/postgresql/15/bin")


def available() -> bool:
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        return False
    return all((BIN / tool).exists() for tool in ("initdb", "pg_ctl", "pg_basebackup"))


def require() -> None:
    """Skip (fail under CI) when this machine cannot make a primary and standby."""
    require_or_skip(available(), f"no PostgreSQL 15 server binaries in {BIN} or no postgres user")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*args: str) -> None:
    prefix = [] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--"]
    subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)


@dataclass
class Pair:
    root: Path
    primary: int
    standby: int

    def promote(self) -> None:
        """Stop the primary hard, then promote the standby (waits until it accepts writes)."""
        _as_postgres(
            str(BIN / "pg_ctl"), "-D", str(self.root / "primary"), "-m", "immediate", "stop"
        )
        _as_postgres(str(BIN / "pg_ctl"), "-D", str(self.root / "standby"), "-w", "promote")


def _configure(data: Path, port: int, root: Path) -> None:
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
            f"unix_socket_directories = '{root}'\nwal_level = replica\n"
            "max_wal_senders = 4\nfsync = off\nshared_buffers = 16MB\n"
        )


@contextlib.contextmanager
def primary_and_standby() -> Iterator[Pair]:
    root = Path(tempfile.mkdtemp(prefix="pg-pair-", dir="/tmp"))
    entry = pwd.getpwnam("postgres")
    os.chown(root, entry.pw_uid, entry.pw_gid)
    root.chmod(0o700)
    pair = Pair(root, _free_port(), _free_port())
    primary, standby = root / "primary", root / "standby"
    pg_ctl = str(BIN / "pg_ctl")
    try:
        _as_postgres(str(BIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust")
        _configure(primary, pair.primary, root)
        _as_postgres(pg_ctl, "-D", str(primary), "-l", str(root / "primary.log"), "-w", "start")
        _as_postgres(
            str(BIN / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(pair.primary), "-U", "postgres"),
            *("-D", str(standby), "-R", "-X", "stream"),
        )
        with open(standby / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {pair.standby}\n")
        _as_postgres(pg_ctl, "-D", str(standby), "-l", str(root / "standby.log"), "-w", "start")
        yield pair
    finally:
        for data in (primary, standby):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(subprocess.SubprocessError):
                    _as_postgres(pg_ctl, "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)
