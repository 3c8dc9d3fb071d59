"""The webhook's working parts, one of each per process, built from the settings."""
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask

from webapp.database import create_webhook_engine
from webapp.intake.breaker import CircuitBreaker
from webapp.intake.drain import SpoolDrainer
from webapp.intake.keyring import KeyRing
from webapp.intake.outcome import api_headers
from webapp.intake.rate_limit import WebhookLimits
from webapp.intake.spool import Spool

EXTENSION = "intake"


@dataclass
class Intake:
    """Everything a webhook request works with besides the request itself."""

    engine: sa.Engine  # the webhook's own: autocommit and short waits on PostgreSQL
    spool: Spool
    breaker: CircuitBreaker  # after a failed insert, leads go to the spool at once for a while
    drainer: SpoolDrainer
    keyring: KeyRing
    limits: WebhookLimits
    answer_headers: tuple[tuple[str, str], ...]  # on every answer (webapp.intake.outcome.api_headers)
    # Called after a lead went into the table (not the spool), e.g. to wake other workers' threads.
    after_store: list[Callable[[], None]] = field(default_factory=list)

    @classmethod
    def from_settings(cls, settings: Mapping) -> "Intake":
        """The parts as `settings` (the app's config) describe them."""
        engine = create_webhook_engine(settings["SQLALCHEMY_DATABASE_URI"], settings["SQLALCHEMY_ENGINE_OPTIONS"])
        spool = Spool(settings["SPOOL_DIR"])
        breaker = CircuitBreaker(float(settings["DATABASE_RETRY_SECONDS"]))
        drainer = SpoolDrainer(spool, engine, float(settings["SPOOL_DRAIN_INTERVAL"]))
        keyring = KeyRing(settings["CARDEKHO_API_KEYS"], settings["API_KEY_CACHE_SECONDS"],
                          os.path.join(settings["SPOOL_DIR"], "api-keys.json"), engine, breaker)
        return cls(engine, spool, breaker, drainer, keyring, WebhookLimits(settings), api_headers(settings["APP_ENV"]),
                   [drainer.nudge])


def intake_of(app: Flask) -> Intake:
    """The webhook's parts of `app` (the intake app, or the dashboard app it is mounted in)."""
    return app.extensions[EXTENSION]
