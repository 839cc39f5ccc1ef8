"""The vendored browser libraries: pinned by package-lock.json, checked against its integrity hash."""
import base64
import hashlib
import io
import json
import tarfile

import pytest

from caseworker import assets


def _tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_a_tarball_is_accepted_only_when_it_matches_its_hash():
    data = _tarball({"dist/lib.js": b"console.log(1)"})
    assets.check_integrity(data, _integrity(data))
    with pytest.raises(assets.AssetError, match="integrity"):
        assets.check_integrity(data + b"\0", _integrity(data))
    with pytest.raises(assets.AssetError, match="algorithm"):
        assets.check_integrity(data, "md5-" + base64.b64encode(hashlib.md5(data).digest()).decode())


def test_files_come_out_of_the_package_folder_of_the_tarball():
    data = _tarball({"dist/lib.js": b"ok", "README.md": b"readme"})
    assert assets.extract(data, ["dist/lib.js"]) == {"dist/lib.js": b"ok"}
    with pytest.raises(assets.AssetError, match="missing"):
        assets.extract(_tarball({"dist/other.js": b"x"}), ["dist/lib.js"])


def test_the_lock_file_pins_the_socketio_client_and_install_is_idempotent(tmp_path):
    version, integrity = assets.pinned(assets.ROOT / "package-lock.json", "socket.io-client")
    assert version.startswith("4.") and integrity.startswith("sha512-")
    written = assets.install(target=tmp_path)
    assert [p.name for p in written] == ["socket.io.min.js", "chart.umd.min.js"]
    assert b"io" in (tmp_path / "socket.io.min.js").read_bytes()
    assert b"Chart" in (tmp_path / "chart.umd.min.js").read_bytes()
    assert assets.install(target=tmp_path) == []                  # up to date: nothing fetched again


def test_an_unpinned_package_is_a_clear_error(tmp_path):
    lock = tmp_path / "package-lock.json"
    lock.write_text(json.dumps({"lockfileVersion": 3, "packages": {"": {}}}))
    with pytest.raises(assets.AssetError, match="not pinned"):
        assets.pinned(lock, "socket.io-client")
