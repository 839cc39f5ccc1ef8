"""Browser libraries the console serves (the Socket.IO client), fetched from the npm registry without Node.

`make run` must work on a machine with only Python, so this reads the pinned version and integrity hash
of each library from package-lock.json, downloads the package tarball, checks the hash, and extracts the
files the pages load into static/vendor/. With node_modules/ present (after `npm ci`) it copies from there.

    python -m caseworker.assets            # idempotent: does nothing when the files are up to date
"""
import base64
import hashlib
import io
import json
import logging
import os
import sys
import tarfile
import urllib.request
from pathlib import Path

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
VENDOR_DIR = ROOT / "static" / "vendor"
# package -> files of its tarball the pages load
VENDORED = {"socket.io-client": ["dist/socket.io.min.js"],
            "chart.js": ["dist/chart.umd.min.js"]}          # the reports' charts (bundles @kurkle/color)
REGISTRY = os.environ.get("NPM_CONFIG_REGISTRY", "https://registry.npmjs.org/").rstrip("/")


class AssetError(RuntimeError):
    """A library could not be fetched or did not match its pinned hash."""


def pinned(lock_path: Path, package: str) -> tuple[str, str]:
    """(version, integrity) of `package` in an npm lock file (lockfileVersion 2 or 3)."""
    lock = json.loads(lock_path.read_text())
    entry = lock.get("packages", {}).get(f"node_modules/{package}")
    if not entry or "version" not in entry or "integrity" not in entry:
        raise AssetError(f"{package} is not pinned in {lock_path.name}")
    return entry["version"], entry["integrity"]


def tarball_url(package: str, version: str) -> str:
    return f"{REGISTRY}/{package}/-/{package.rsplit('/', 1)[-1]}-{version}.tgz"


def check_integrity(data: bytes, integrity: str) -> None:
    """Raises AssetError unless `data` matches a Subresource-Integrity string such as 'sha512-<base64>'."""
    algorithm, _, expected = integrity.partition("-")
    if algorithm not in {"sha256", "sha384", "sha512"}:
        raise AssetError(f"unsupported integrity algorithm {algorithm!r}")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        raise AssetError("downloaded package does not match the integrity hash in package-lock.json")


def extract(tarball: bytes, members: list[str]) -> dict[str, bytes]:
    """The named files of an npm package tarball (whose paths start with 'package/')."""
    found = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in members:
            try:
                handle = archive.extractfile(f"package/{member}")
            except KeyError:
                handle = None
            if handle is None:
                raise AssetError(f"{member} is missing from the package")
            found[member] = handle.read()
    return found


def _from_node_modules(package: str, version: str, members: list[str]) -> dict[str, bytes] | None:
    folder = ROOT / "node_modules" / package
    try:
        if json.loads((folder / "package.json").read_text())["version"] != version:
            return None
        return {member: (folder / member).read_bytes() for member in members}
    except (OSError, ValueError, KeyError):
        return None


def _download(package: str, version: str, integrity: str, members: list[str]) -> dict[str, bytes]:
    url = tarball_url(package, version)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            data = response.read()
    except OSError as error:
        raise AssetError(f"could not download {url}: {error}") from error
    check_integrity(data, integrity)
    return extract(data, members)


def install(lock_path: Path = ROOT / "package-lock.json", target: Path = VENDOR_DIR) -> list[Path]:
    """Write every vendored file under `target`, skipping versions already there. Returns the files written."""
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for package, members in VENDORED.items():
        version, integrity = pinned(lock_path, package)
        stamp = target / f".{package.replace('/', '_')}.version"
        if stamp.exists() and stamp.read_text() == integrity and all((target / Path(m).name).exists() for m in members):
            continue
        files = _from_node_modules(package, version, members) or _download(package, version, integrity, members)
        for member, content in files.items():
            path = target / Path(member).name
            path.write_bytes(content)
            written.append(path)
        stamp.write_text(integrity)
        log.info("vendored %s %s", package, version)
    return written


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        install()
    except AssetError as error:
        log.error("%s", error)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
