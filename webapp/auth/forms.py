"""The sign-in form (Flask-WTF adds and checks its CSRF token), and the body types it arrives in."""
from flask import request
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from webapp.auth.passwords import MAX_LENGTH

# What the sign-in page's form sends. FlaskForm would also read a JSON body, which would be a second
# way in for every check made on the form.
FORM_BODY_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
NOT_A_FORM = "Sign in with the form on the sign-in page; other kinds of request body (such as JSON) are not accepted."


class LoginForm(FlaskForm):
    """Email and password, as the design card names them."""

    email = EmailField("Email", validators=[DataRequired("Enter your email."), Length(max=320)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=MAX_LENGTH)])


def sent_as_a_form() -> bool:
    """Whether this request's body is of a type the sign-in page's form sends."""
    return request.mimetype in FORM_BODY_TYPES
