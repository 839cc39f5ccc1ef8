"""The WSGI entry point: `app = create_app()`; `python wsgi.py` runs the Socket.IO dev server."""
from caseworker import create_app, embedded_redis
from caseworker.extensions import socketio

app = create_app()

if __name__ == "__main__":
    if app.config["REDIS_EMBEDDED"]:
        embedded_redis.ensure_running(app.instance_path)
    socketio.run(app, host="127.0.0.1", port=5000, allow_unsafe_werkzeug=True)
