"""Base of santegarde's domain errors: each carries a sentence that says what is wrong and what to do.

The CLI and the API translate them at the edge (a message and an exit code, an HTTP problem); the
packages raise them with fields, never print.
"""


class SantegardeError(Exception):
    """A refusal or a problem a person can act on; its message is a complete sentence."""
