from feedback_fixtures import fast_password_hashing, pg_database, store_url  # noqa: F401  (shared with tests/label)
