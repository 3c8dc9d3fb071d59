"""WSGI entry points: `gunicorn run:app` serves everything, `gunicorn run:intake_app` only the webhook.

`app` is the dashboard with the webhook's own app mounted in front of it at
/admin/mg-digital-leads/source/; `intake_app` is that same webhook app, for a
host that scales intake apart from the dashboard (same URLs). `python run.py`
serves `app` in development; `flask --app run …` runs the operator commands.
"""
import os
import sys

from config import ConfigError
from webapp import create_app, mounted_intake_app

try:
    app = create_app()
except ConfigError as error:
    sys.exit(f"Refusing to start: {error}")
intake_app = mounted_intake_app(app)

if __name__ == "__main__":
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")))
