"""Fixtures of the feedback store's and the labeling app's tests (imported by their conftest files).

``store_url``: every store test runs on SQLite, and on PostgreSQL when POSTTRAIN_TEST_PG_URL is set.

``POSTTRAIN_TEST_PG_URL`` names a server where the user may create databases (``.ci/run`` starts
one on loopback with ``scripts/ci_postgres.sh``); each test gets a fresh database, dropped after.
"""

from __future__ import annotations

import os
import secrets

import pytest

from posttrain.feedback import store as store_module

PG_URL = os.environ.get("POSTTRAIN_TEST_PG_URL")


@pytest.fixture(scope="session")
def pg_database():
    """A database on the test server, migrated once, dropped after the session."""
    if not PG_URL:
        pytest.skip("PostgreSQL tests need POSTTRAIN_TEST_PG_URL (set by .ci/run via scripts/ci_postgres.sh)")
    psycopg = pytest.importorskip("psycopg", reason="needs psycopg (pip install 'psycopg[binary]')")
    from sqlalchemy.engine import make_url

    from posttrain.feedback.store import FeedbackStore

    server = make_url(PG_URL)
    conninfo = server.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"posttrain_test_{secrets.token_hex(4)}"
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    url = server.set(database=name).render_as_string(hide_password=False)
    FeedbackStore(url).close()  # runs the migrations
    yield psycopg, url, server.set(drivername="postgresql", database=name).render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A database URL with the store's tables empty: a fresh SQLite file, or the emptied PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'feedback.db'}"
    psycopg, url, conninfo = request.getfixturevalue("pg_database")
    from posttrain.feedback.store import Base

    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture(autouse=True)
def fast_password_hashing(monkeypatch):
    """Argon2 with tiny costs: a test creates many accounts, and verifying reads the costs from the hash."""
    from argon2 import PasswordHasher

    hasher = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)
    monkeypatch.setitem(store_module._HASHER, "hasher", hasher)
    monkeypatch.setitem(store_module._HASHER, "dummy", hasher.hash("dummy password"))
