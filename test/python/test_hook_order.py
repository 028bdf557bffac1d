"""Which utility hooks see a zcimport load, by shared_preload_libraries order.

zcimport runs a ``COPY ... (FORMAT zcimport)`` in its ProcessUtility hook
and does not pass it on, so the hooks of libraries loaded before
pg_zcimport (pg_stat_statements, pgaudit...) never see a load.  The docs
recommend listing pg_zcimport before them (after citus); then they record
loads.  When the order hides loads, the first load of a session raises a
NOTICE naming the library, and every load is written to the server log.

pgaudit also checks permissions, and expects to have seen the statement in
its utility hook: loads are refused when it is loaded before pg_zcimport.

These tests run their own throwaway cluster (test/cluster.sh on port
ZC_PGPORT + 7, default 54336), restarted with each configuration.  They
need pg_stat_statements (PostgreSQL's contrib) and pgaudit (Debian's
postgresql-15-pgaudit, which test/deps.sh installs); they skip otherwise.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, NamedTuple, Tuple

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "test" / "cluster.sh"
PORT = int(os.environ.get("ZC_PGPORT", "54329")) + 7
PGROOT = f"/tmp/zcimport-pg-{PORT}"
ENV = {**os.environ, "ZC_PGPORT": str(PORT), "ZC_PGROOT": PGROOT}
DSN = f"host={PGROOT} port={PORT} user=postgres dbname=postgres"

pytestmark = [pytest.mark.skipif(os.environ.get("ZC_TEST_DSN") is None,
                                 reason="ZC_TEST_DSN is not set: no test cluster"),
              pytest.mark.server_side]


def _pg_config() -> str:
    debian = "/usr/lib/postgresql/15/bin/pg_config"
    return os.environ.get("PG_CONFIG") or (debian if os.path.exists(debian) else "pg_config")


def _pkglibdir() -> Path:
    return Path(subprocess.run([_pg_config(), "--pkglibdir"], check=True,
                               capture_output=True, text=True).stdout.strip())


class Cluster:
    """The throwaway cluster, restarted with a given shared_preload_libraries."""

    def __init__(self) -> None:
        self.bindir = subprocess.run([_pg_config(), "--bindir"], check=True,
                                     capture_output=True, text=True).stdout.strip()
        self.log = Path(PGROOT) / "server.log"

    def configure(self, preload: str, extra: Dict[str, str]) -> None:
        """Set shared_preload_libraries (and more), and restart."""
        import psycopg
        from psycopg import sql

        with psycopg.connect(DSN, autocommit=True) as c:
            c.execute("ALTER SYSTEM RESET ALL")
            libs = [sql.Literal(name) for name in preload.split(",") if name]
            if libs:
                c.execute(sql.SQL("ALTER SYSTEM SET shared_preload_libraries = {}").format(
                    sql.SQL(", ").join(libs)))
        cmd = [f"{self.bindir}/pg_ctl", "-D", f"{PGROOT}/data", "-l", str(self.log),
               "-w", "-t", "60", "restart"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        subprocess.run(cmd, check=True, capture_output=True)
        with psycopg.connect(DSN, autocommit=True) as c:
            for name, value in extra.items():
                c.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    sql.Identifier(*name.split(".")), sql.Literal(value)))
            c.execute("SELECT pg_catalog.pg_reload_conf()")
            if "pg_stat_statements" in preload:
                c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                c.execute("SELECT public.pg_stat_statements_reset()")
        time.sleep(0.2)  # the reload reaches the backends started from now on

    def log_size(self) -> int:
        return self.log.stat().st_size

    def log_since(self, offset: int) -> str:
        with open(self.log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    lib = _pkglibdir()
    for needed in ("pg_stat_statements.so", "pgaudit.so"):
        if not (lib / needed).exists():
            pytest.skip(f"{needed} is not installed in {lib} (test/deps.sh installs it)")
    subprocess.run([str(CLUSTER), "stop"], env=ENV, check=True)
    subprocess.run([str(CLUSTER), "start"], env=ENV, check=True)
    import psycopg

    with psycopg.connect(DSN, autocommit=True) as c:
        c.execute("CREATE EXTENSION zcimport")
    try:
        yield Cluster()
    finally:
        subprocess.run([str(CLUSTER), "stop"], env=ENV, check=False)


class Notice(NamedTuple):
    """The fields of a NOTICE the server sent."""

    severity_nonlocalized: str
    message_primary: str
    message_detail: str
    message_hint: str


def _load(n: int = 1000) -> Tuple[int, List[Notice]]:
    """Load n rows with copy_dataframe; returns the count and the NOTICEs."""
    import psycopg
    import zcimport

    notices: List[Notice] = []
    with psycopg.connect(DSN) as conn:
        # a Diagnostic is only valid inside the handler: keep its fields
        conn.add_notice_handler(lambda d: notices.append(Notice(
            d.severity_nonlocalized, d.message_primary or "", d.message_detail or "",
            d.message_hint or "")))
        conn.execute("DROP TABLE IF EXISTS hooked")
        conn.execute("CREATE TABLE hooked (a float8, b int8)")
        df = pd.DataFrame({"a": np.arange(n) / 2, "b": np.arange(n, dtype=np.int64)})
        zcimport.copy_dataframe(df, "hooked", conn)
        zcimport.copy_dataframe(df, "hooked", conn)
        count = conn.execute("SELECT count(*) FROM hooked").fetchone()[0]
    return count, [notice for notice in notices if "zcimport" in notice.message_primary]


def _copy_stats() -> List[Tuple[str, int, int]]:
    import psycopg

    with psycopg.connect(DSN) as c:
        return c.execute(
            "SELECT query, calls, rows FROM public.pg_stat_statements"
            " WHERE query OPERATOR(pg_catalog.~~*) '%format zcimport%'").fetchall()


def test_loaded_first_pg_stat_statements_sees_loads(cluster: Cluster) -> None:
    cluster.configure("pg_zcimport,pg_stat_statements", {})
    count, notices = _load(1000)
    assert count == 2000
    assert notices == []
    stats = _copy_stats()
    assert [(calls, rows) for _, calls, rows in stats] == [(2, 2000)], stats


def test_loaded_after_pg_stat_statements_says_so(cluster: Cluster) -> None:
    cluster.configure("pg_stat_statements,pg_zcimport", {})
    start = cluster.log_size()
    count, notices = _load(1000)
    assert count == 2000
    # one NOTICE per session, naming the library whose hook is bypassed
    assert len(notices) == 1
    assert notices[0].severity_nonlocalized == "NOTICE"
    assert "pg_stat_statements" in notices[0].message_detail
    assert "shared_preload_libraries" in notices[0].message_hint
    assert _copy_stats() == []
    # every load is in the server log
    log = cluster.log_since(start)
    assert log.count("zcimport load is not seen by the utility hooks") == 2, log


def test_loaded_on_demand_after_pg_stat_statements_says_so(cluster: Cluster) -> None:
    cluster.configure("pg_stat_statements", {})
    count, notices = _load(10)
    assert count == 20
    assert len(notices) == 1 and "pg_stat_statements" in notices[0].message_detail
    assert _copy_stats() == []


def test_loaded_first_pgaudit_logs_loads(cluster: Cluster) -> None:
    cluster.configure("pg_zcimport,pgaudit", {"pgaudit.log": "write"})
    start = cluster.log_size()
    count, notices = _load(10)
    assert count == 20 and notices == []
    audit = [line for line in cluster.log_since(start).splitlines()
             if "AUDIT: SESSION" in line and "FORMAT zcimport" in line]
    assert len(audit) == 2, audit


def test_loaded_after_pgaudit_refuses(cluster: Cluster) -> None:
    # pgaudit checks permissions for statements its utility hook has seen;
    # a load it never saw crashed it, and would escape the audit: refused
    import psycopg
    import zcimport

    cluster.configure("pgaudit,pg_zcimport", {"pgaudit.log": "write"})
    with psycopg.connect(DSN) as conn:
        conn.execute("DROP TABLE IF EXISTS hooked")
        conn.execute("CREATE TABLE hooked (a float8, b int8)")
        conn.commit()
        df = pd.DataFrame({"a": [1.5, 2.5], "b": [1, 2]})
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState) as info:
            zcimport.copy_dataframe(df, "hooked", conn)
        assert "pgaudit" in info.value.diag.message_primary
        assert "shared_preload_libraries" in info.value.diag.message_hint
        conn.rollback()
        assert conn.execute("SELECT count(*) FROM hooked").fetchone()[0] == 0
    # the SQL functions run inside a statement pgaudit has seen: they load
    with psycopg.connect(DSN) as conn:
        n = conn.execute("SELECT zcimport.import_bytea('hooked', %s)", (_stream(df),)).fetchone()[0]
        assert n == 2


def _stream(df: pd.DataFrame) -> bytes:
    import io
    import zcimport

    buf = io.BytesIO()
    zcimport.dump(df, buf)
    return buf.getvalue()


def test_no_other_hook_no_notice(cluster: Cluster) -> None:
    cluster.configure("", {})
    start = cluster.log_size()
    count, notices = _load(10)
    assert count == 20 and notices == []
    assert "zcimport load is not seen" not in cluster.log_since(start)
