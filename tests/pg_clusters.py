"""A private PostgreSQL primary and its streaming replica under /tmp, for the replica tests:
initdb, pg_basebackup -R, each on a free loopback port, stopped and removed afterwards. As
root the server binaries run as the `postgres` user (PostgreSQL refuses to run as root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.servers import free_port, log_tail

POSTGRES_LIB = Path("/usr/lib/postgresql")


def server_bin() -> Path | None:
    """The newest installed PostgreSQL's bin directory with initdb and pg_basebackup."""
    found = sorted(
        POSTGRES_LIB.glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    for initdb in reversed(found):
        if (initdb.parent / "pg_basebackup").exists() and (initdb.parent / "pg_ctl").exists():
            return initdb.parent
    return None


@dataclass(frozen=True)
class Cluster:
    """One running server: its data directory and port."""

    data: Path
    port: int
    log: Path

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=database, autocommit=True
        )


class Clusters:
    """Runs the binaries of `bin_dir` in `base` (as `postgres` when this process is root)."""

    def __init__(self, bin_dir: Path, base: Path) -> None:
        self.bin_dir = bin_dir
        self.base = base
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        self.running: list[Cluster] = []

    def run(self, program: str, *args: str) -> None:
        command = [*self.as_postgres, str(self.bin_dir / program), *args]
        result = subprocess.run(  # noqa: S603 - the server binaries, fixed arguments
            command, capture_output=True, text=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"{program} failed ({result.returncode}):\n{result.stderr}")

    def configure(self, data: Path, port: int) -> None:
        with open(data / "postgresql.conf", "a") as conf:
            conf.write(
                f"\nport = {port}\nlisten_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.base}'\n"
                # Throwaway clusters: no fsync, little shared memory.
                "fsync = off\nshared_buffers = 16MB\nmax_connections = 40\n"
                "wal_level = replica\nmax_wal_senders = 4\nhot_standby = on\n"
            )

    def start(self, data: Path, port: int) -> Cluster:
        log = self.base / f"{data.name}.log"
        self.run("pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "30", "start")
        cluster = Cluster(data=data, port=port, log=log)
        self.running.append(cluster)
        return cluster

    def stop(self, cluster: Cluster) -> None:
        if cluster in self.running:
            self.running.remove(cluster)
            self.run("pg_ctl", "-D", str(cluster.data), "-m", "immediate", "-w", "stop")

    def primary(self) -> Cluster:
        data, port = self.base / "primary", free_port()
        self.run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "-N")
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write("\nhost replication postgres 127.0.0.1/32 trust\n")
        self.configure(data, port)
        return self.start(data, port)

    def replica_of(self, primary: Cluster) -> Cluster:
        """A hot standby streaming from `primary` (pg_basebackup -R writes its primary_conninfo
        and standby.signal)."""
        data, port = self.base / "replica", free_port()
        self.run(
            "pg_basebackup",
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres"),
            *("-D", str(data), "-R", "-X", "stream", "--checkpoint=fast", "--no-sync"),
        )
        self.configure(data, port)
        return self.start(data, port)


@contextmanager
def primary_and_replica(bin_dir: Path) -> Iterator[tuple[Clusters, Cluster, Cluster]]:
    """A primary and its streaming replica; both stopped and their files removed afterwards."""
    base = Path(tempfile.mkdtemp(prefix="dora-replica-", dir="/tmp"))
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    clusters = Clusters(bin_dir, base)
    try:
        primary = clusters.primary()
        replica = clusters.replica_of(primary)
        yield clusters, primary, replica
    except Exception:
        for log in base.glob("*.log"):
            print(f"--- {log.name}\n{log_tail(log)}")  # noqa: T201 - shown with the failure
        raise
    finally:
        for cluster in reversed(list(clusters.running)):
            try:
                clusters.stop(cluster)
            except Exception as exc:  # noqa: BLE001 - go on stopping the others
                print(f"stopping {cluster.data} failed: {exc}")  # noqa: T201
        shutil.rmtree(base, ignore_errors=True)


def replica_catch_up(primary: Cluster, replica: Cluster) -> None:
    """Wait until the replica has replayed everything the primary has written so far."""
    _replica_reach(primary, replica, "pg_last_wal_replay_lsn()")


def replica_receive(primary: Cluster, replica: Cluster) -> None:
    """Wait until the replica has received (not necessarily replayed: replay may be paused)
    everything the primary has written so far."""
    _replica_reach(primary, replica, "pg_last_wal_receive_lsn()")


def _replica_reach(primary: Cluster, replica: Cluster, position: str, timeout: float = 30) -> None:
    with primary.connect() as conn:
        (target,) = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    deadline = time.monotonic() + timeout
    with replica.connect() as conn:
        while not conn.execute(f"SELECT {position} >= %s::pg_lsn", [target]).fetchone()[0]:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the replica's {position} did not reach {target}")
            time.sleep(0.05)
