"""Write an audit row for the current request: who (the signed-in account) and from where."""
from flask import request
from flask_login import current_user

from webapp.audit import record_audit


def audit(action: str, target: str | None = None, details: dict | None = None, *, user=None,
          actor: str | None = None) -> None:
    """Record `action` by `user` (default: the signed-in account) or by the named `actor`."""
    if user is None and actor is None and current_user.is_authenticated:
        user = current_user
    name = actor or (user.email if user is not None else "anonymous")
    record_audit(action, name, actor_id=user.id if user is not None else None, source_ip=request.remote_addr,
                 target=target, details=details)
