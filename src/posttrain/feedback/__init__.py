"""Human and user feedback: the record format every producer writes and the loop reads, and the store.

``records`` (the record format and its conversion to training rows), ``store`` (campaigns, reviewers,
judgements and served feedback in SQLite or PostgreSQL, with ``migrations``; the ``web`` extra),
``defences`` (what makes noisy feedback safe to train on), ``agreement`` (inter-reviewer kappas),
``human_eval`` (a campaign's report comparing two models) and ``files`` (private file permissions).

The constants live here (not in ``store``) so the ``posttrain`` command can name them in its options
without importing SQLAlchemy at start-up.
"""

DEFAULT_URL = "sqlite:///posttrain-feedback.db"  # the feedback store's database when none is given
EXPORT_FORMATS = ("records", "preference", "sft", "unpaired")  # what ``posttrain label export`` writes
