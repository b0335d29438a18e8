"""What a command of the tools says when it was asked for something it cannot do."""

EXIT_USAGE = 2


class UsageError(Exception):
    """A problem with what the user asked for; exits 2 with the message."""
