"""Accounts and sign-in: the users table, /login and /logout, and the `flask users` commands."""
from flask import Blueprint

bp = Blueprint("auth", __name__, cli_group="users")


@bp.record_once
def _per_worker_state(state) -> None:
    """The sign-in limits (counted in the shared store)."""
    from webapp.auth.sign_in_limits import SignInLimits

    state.app.extensions["sign_in_limits"] = SignInLimits(state.app.config)


from webapp.auth import access, cli, routes  # noqa: E402,F401  (registers views, commands, loaders)
