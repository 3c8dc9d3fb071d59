"""The webhook's baseline: check the header, parse JSON, one INSERT, 201 — nothing else.

Served by gunicorn exactly as the real app is (`gunicorn bench.minimal_app:app`),
on the same database, so the difference between the two is what our features cost.
"""
import json
import os
import threading

import psycopg2
from flask import Flask, request

app = Flask(__name__)
API_KEY = os.environ["CARDEKHO_API_KEYS"].split(",")[0]
DSN = os.environ["DATABASE_URL"].replace("postgresql+psycopg2://", "postgresql://")
# The benchmark also points it at a twin table without the dashboard indexes, to price them.
TABLE = os.environ.get("LEADS_TABLE", "mg-digital-leads")
# Stored as routed long ago (the mark of leads older than working the leads), so that the real app's router,
# running beside this server in the benchmark, leaves them alone: the real app works only its own leads.
INSERT = (f'INSERT INTO "{TABLE}" (platform, name, phone_number, payload, routed_at) '
          "VALUES ('CarDekho', %s, %s, %s, '2000-01-01 00:00:00+00') RETURNING id")
_local = threading.local()


def connection():
    """One connection per worker thread (gunicorn.conf.py runs threaded workers), opened on first use."""
    if getattr(_local, "connection", None) is None or _local.connection.closed:
        _local.connection = psycopg2.connect(DSN)
    return _local.connection


@app.post("/admin/mg-digital-leads/source/cardekho")
def receive():
    """The minimum a webhook must do."""
    if request.headers.get("X-API-Key") != API_KEY:
        return {"error": "API key invalid"}, 403
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not body.get("name") or not body.get("phone_number"):
        return {"error": "Missing required fields"}, 400
    db = connection()
    with db.cursor() as cursor:
        cursor.execute(INSERT, (body["name"], str(body["phone_number"]), json.dumps(body)))
    db.commit()
    return {"message": "CarDekho lead inserted successfully"}, 201
