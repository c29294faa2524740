from feedback_fixtures import fast_password_hashing  # noqa: F401  (autouse; shared with tests/feedback)
