"""The one exception type for problems the user can fix."""


class RaftError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits with code 2.

    The message names the problem and the fix (which flag, which command builds the missing thing).
    """


def json_error(exc: ValueError, line_known: bool = True) -> str:
    """A JSON parse error with its position: 'Invalid control character at column 9', never a dangling 'at'.

    `line_known`: the caller names the line already (JSON Lines), so only the column is given."""
    msg = getattr(exc, "msg", str(exc)).removesuffix(" at").strip()
    line, col = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    if col is None:
        return msg
    return f"{msg} at column {col}" if line_known else f"{msg} at line {line}, column {col}"
