"""Accounts and sign-in: the users table, /login and /logout, and the `flask users` commands."""
from flask import Blueprint

bp = Blueprint("auth", __name__, cli_group="users")

from webapp.auth import access, cli, routes  # noqa: E402,F401  (registers views, commands, loaders)
