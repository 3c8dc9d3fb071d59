"""WSGI entry point: `gunicorn run:app` in production, `python run.py` in development."""
import os
import sys

from config import ConfigError
from webapp import create_app

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"Refusing to start: {error}")

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
