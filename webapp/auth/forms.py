"""The sign-in form (Flask-WTF adds and checks its CSRF token)."""
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from webapp.auth.passwords import MAX_LENGTH


class LoginForm(FlaskForm):
    """Email and password, as the design card names them."""

    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=MAX_LENGTH)])
