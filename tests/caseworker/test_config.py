"""Configuration from the environment, defaults to the zero-setup engines, and a factory that connects to nothing."""
import pytest

from caseworker import create_app, embedded_redis


@pytest.fixture
def clean_env(monkeypatch):
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "CASEWORK_LOGIN_MAX_FAILURES",
                "CASEWORK_SESSION_COOKIE_SECURE"):
        monkeypatch.delenv(key, raising=False)
    return monkeypatch


def test_defaults_are_sqlite_and_embedded_redis_in_the_instance_folder(clean_env):
    app = create_app({"TESTING": True})
    assert app.config["DATABASE_URL"] == f"sqlite:///{app.instance_path}/casework.db"
    assert app.config["REDIS_EMBEDDED"] is True
    assert app.config["REDIS_URL"] == embedded_redis.url(app.instance_path)
    assert app.config["SOCKETIO_MESSAGE_QUEUE"] == app.config["REDIS_URL"]
    assert app.config["RATELIMIT_STORAGE_URI"].startswith("redis+unix://")


def test_the_environment_picks_the_engines(clean_env):
    clean_env.setenv("DATABASE_URL", "postgresql+psycopg://u@db.invalid:5432/casework")
    clean_env.setenv("REDIS_URL", "redis://cache.invalid:6379/0")
    clean_env.setenv("CASEWORK_LOGIN_MAX_FAILURES", "7")
    clean_env.setenv("CASEWORK_SESSION_COOKIE_SECURE", "true")
    app = create_app({"TESTING": True})
    assert app.config["DATABASE_URL"] == "postgresql+psycopg://u@db.invalid:5432/casework"
    assert app.config["REDIS_EMBEDDED"] is False
    assert app.config["SOCKETIO_MESSAGE_QUEUE"] == "redis://cache.invalid:6379/0"
    assert app.config["LOGIN_MAX_FAILURES"] == 7
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_create_app_touches_neither_database_nor_redis(clean_env):
    # Both hosts are unresolvable: any connection attempt at build time would raise.
    app = create_app({"DATABASE_URL": "postgresql+psycopg://u@db.invalid:1/x",
                      "REDIS_URL": "redis://cache.invalid:1/0", "TESTING": True})
    assert app.url_map.bind("localhost").match("/login") == ("auth.login", {})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "degraded", "database": False, "redis": False}


def test_health_reports_both_engines_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": True, "redis": True}


def test_the_secret_key_is_shared_through_the_instance_folder(clean_env, tmp_path):
    from caseworker import config

    first, second = config._instance_secret(tmp_path), config._instance_secret(tmp_path)
    assert first == second and len(first) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
