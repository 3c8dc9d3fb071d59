"""Accounts and sign-in: the users table, /login and /logout, and the `flask users` commands."""
from flask import Blueprint

bp = Blueprint("auth", __name__, cli_group="users")


@bp.record_once
def _per_worker_state(state) -> None:
    """This worker's password hashing slots and the sign-in limits (counted in the shared store)."""
    from webapp.auth.passwords import HashingSlots
    from webapp.auth.sign_in_limits import SignInLimits

    config = state.app.config
    state.app.extensions["password_slots"] = HashingSlots(config["PASSWORD_HASHES_PER_WORKER"],
                                                          config["PASSWORD_HASH_WAIT_SECONDS"])
    state.app.extensions["sign_in_limits"] = SignInLimits(config)


from webapp.auth import access, cli, routes  # noqa: E402,F401  (registers views, commands, loaders)
