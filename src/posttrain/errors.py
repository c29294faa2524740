"""The one exception type for mistakes a user can fix (bad config, bad data, missing model).

The CLI prints these as a single ``error: ...`` line and exits with status 2, never a traceback.
"""


class UserError(Exception):
    """A problem in the user's input, explained in one line."""


class DataError(UserError):
    """A bad row in a data file; the message names the file, the line and the field."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.reason = path, line, field, message
        where = ":".join(str(part) for part in (path, line) if part is not None)
        prefix = f"{where}: " if where else ""
        field_part = f"field '{field}': " if field else ""
        super().__init__(f"{prefix}{field_part}{message}")
