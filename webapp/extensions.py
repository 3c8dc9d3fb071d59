"""Flask extensions, created unbound and bound to the app in `create_app`."""
import sqlalchemy as sa
import sqlalchemy.orm
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base: every `Mapped[str]` is TEXT, as in the table design."""

    registry = sa.orm.registry(type_annotation_map={str: sa.Text()})


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
limiter = Limiter(key_func=get_remote_address)
csrf = CSRFProtect()
