"""Run the test suite against both engine pairs: SQLite + embedded Redis, then PostgreSQL + Redis server.

    python -m tests.engines [--only sqlite|postgresql] [-- PYTEST_ARGS...]

For the second pair it starts a throwaway PostgreSQL cluster and Redis server on free loopback ports in a
temporary folder and stops them afterwards. Exits non-zero when either pair fails or runs no test.
"""
import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTEST_NO_TESTS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [shutil.which(name)]
    if not found or not found[-1]:
        sys.exit(f"PostgreSQL's {name} is not installed (Debian package postgresql)")
    return found[-1]


def _as_postgres(cmd: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; CI runs as root, a developer usually does not.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


# The tests trade durability for speed; a benchmark keeps PostgreSQL's defaults, as production does.
_NOT_DURABLE = "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"


@contextmanager
def postgres_cluster(durable: bool = False):
    """A throwaway cluster on a free port; yields the URL of an empty `casework_test` database. Unless
    `durable`, it does not flush to disk (fsync, full-page writes and synchronous commit off)."""
    folder = Path(tempfile.mkdtemp(prefix="casework-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()
    subprocess.run(_as_postgres([_pg_bin("initdb"), "-D", str(data), "-A", "trust", "-U", "casework",
                                 "-E", "UTF8", "--no-sync"]), check=True, stdout=subprocess.DEVNULL)
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if not durable:
        options += f" {_NOT_DURABLE}"
    subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-l",
                                 str(folder / "postgres.log"), "-w", "start"]), check=True,
                   stdout=subprocess.DEVNULL)
    try:
        subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "casework", "-d", "postgres", "-q",
                        "-c", "CREATE DATABASE casework_test"], check=True)
        yield f"postgresql+psycopg://casework@127.0.0.1:{port}/casework_test"
    finally:
        subprocess.run(_as_postgres([_pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       stdout=subprocess.DEVNULL)
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis_server():
    """A throwaway Redis server on a free port; yields the URL of its database 1."""
    binary = shutil.which("redis-server")
    if not binary:
        sys.exit("redis-server is not installed (Debian package redis-server)")
    folder, port = Path(tempfile.mkdtemp(prefix="casework-redis-")), free_port()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        _wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/1"
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def run_pytest(label: str, env_extra: dict[str, str], args: list[str], totals: dict[str, int]) -> int:
    """Run pytest for one engine pair, adding its counts to `totals`; returns its exit code (5 counts as 1)."""
    env = {k: v for k, v in os.environ.items() if k not in ("TEST_DATABASE_URL", "TEST_REDIS_URL")}
    env |= env_extra | {"CASEWORK_TEST_ENGINES": label}
    print(f"\n===== engines: {label} =====", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        code = subprocess.call([sys.executable, "-m", "pytest", f"--junitxml={report}", *args], cwd=ROOT, env=env)
        _add_counts(report, totals)
    if code == PYTEST_NO_TESTS:
        print(f"===== engines: {label} ran no test: that is a failure =====", flush=True)
        return 1
    return code


def _add_counts(report: Path, totals: dict[str, int]) -> None:
    if not report.exists():
        totals["failed"] += 1            # pytest died before writing its report
        return
    for suite in ET.parse(report).getroot().iter("testsuite"):
        tests, skipped = int(suite.get("tests", 0)), int(suite.get("skipped", 0))
        failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        totals["passed"] += tests - skipped - failed
        totals["failed"] += failed
        totals["skipped"] += skipped


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("pytest_args", nargs="*")
    options = parser.parse_args()
    results, totals = {}, {"passed": 0, "failed": 0, "skipped": 0}
    if options.only in (None, "sqlite"):
        results["sqlite + embedded redis"] = run_pytest("sqlite + embedded redis", {}, options.pytest_args, totals)
    if options.only in (None, "postgresql"):
        with postgres_cluster() as database_url, redis_server() as redis_url:
            results["postgresql + redis server"] = run_pytest(
                "postgresql + redis server",
                {"TEST_DATABASE_URL": database_url, "TEST_REDIS_URL": redis_url}, options.pytest_args, totals)
    print("\n===== engines: summary =====")
    for label, code in results.items():
        print(f"{label}: {'passed' if code == 0 else f'FAILED (exit {code})'}")
    failed = totals["failed"] + sum(1 for code in results.values() if code != 0 and not totals["failed"])
    print(f"engines: {totals['passed']} passed, {failed} failed, {totals['skipped']} skipped")
    return 0 if all(code == 0 for code in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
