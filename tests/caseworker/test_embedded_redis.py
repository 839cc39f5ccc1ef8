"""The embedded Redis: started once, found by every process with the same instance folder, stopped cleanly."""
import subprocess
import sys
from pathlib import Path

import redis

from caseworker import embedded_redis

ROOT = Path(__file__).resolve().parents[2]


def test_start_is_idempotent_and_stop_saves(tmp_path):
    url = embedded_redis.ensure_running(str(tmp_path))
    try:
        client = redis.Redis.from_url(url)
        client.set("kept", "yes")
        pid = (tmp_path / "redis.pid").read_text()
        assert embedded_redis.ensure_running(str(tmp_path)) == url
        assert (tmp_path / "redis.pid").read_text() == pid        # the same server, not a second one
    finally:
        assert embedded_redis.stop(str(tmp_path)) is True
    assert embedded_redis.stop(str(tmp_path)) is False
    embedded_redis.ensure_running(str(tmp_path))
    try:
        assert redis.Redis.from_url(url).get("kept") == b"yes"   # persisted across the restart
    finally:
        embedded_redis.stop(str(tmp_path))


def test_separate_processes_share_one_server(tmp_path):
    code = ("import sys, redis; from caseworker import embedded_redis as e; "
            "url = e.ensure_running(sys.argv[1]); redis.Redis.from_url(url).incr('hits'); print(url)")
    try:
        outputs = [subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, check=True,
                                  capture_output=True, text=True).stdout.strip() for _ in range(3)]
        assert len(set(outputs)) == 1
        assert redis.Redis.from_url(outputs[0]).get("hits") == b"3"
    finally:
        embedded_redis.stop(str(tmp_path))


def test_a_deep_folder_gets_a_short_socket_path(tmp_path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    path = embedded_redis.socket_path(str(deep))
    assert len(str(path)) <= 100
    assert path == embedded_redis.socket_path(str(deep))          # stable, so processes agree
