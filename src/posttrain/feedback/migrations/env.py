"""Alembic environment of the feedback store.

The store runs ``alembic upgrade head`` itself when it opens a database
(:meth:`posttrain.feedback.store.FeedbackStore._migrate`), passing its connection in
``config.attributes["connection"]``. To write a new revision after changing the tables in
``store.py``::

    python - <<'PY'
    from alembic import command
    from alembic.config import Config
    from posttrain.feedback.store import MIGRATIONS
    config = Config(); config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", "sqlite:///current.db")   # a database at head
    command.revision(config, "what changed", autogenerate=True)
    PY
"""

from alembic import context
from sqlalchemy import create_engine

from posttrain.feedback.store import VERSION_TABLE, Base

config = context.config


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, version_table=VERSION_TABLE,
                      render_as_batch=connection.dialect.name == "sqlite")  # SQLite alters tables by copying them
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    with create_engine(config.get_main_option("sqlalchemy.url")).begin() as new_connection:
        run_migrations(new_connection)
