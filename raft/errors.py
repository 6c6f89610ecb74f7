"""The one exception type for problems the user can fix."""


class RaftError(Exception):
    """A user-facing error: the CLI prints its message on one line and exits with code 2.

    The message names the problem and the fix (which flag, which command builds the missing thing).
    """
