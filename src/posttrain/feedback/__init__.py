"""Human and user feedback: the record format every producer writes and the loop reads, and the store.

The constants live here (not in ``store``) so the ``posttrain`` command can name them in its options
without importing SQLAlchemy at start-up.
"""

DEFAULT_URL = "sqlite:///posttrain-feedback.db"  # the feedback store's database when none is given
EXPORT_FORMATS = ("records", "preference", "sft", "unpaired")  # what ``posttrain label export`` writes
