"""Base of santegarde's domain errors: each carries a sentence that says what is wrong and what to do.

The CLI and the API translate them at the edge (a message and an exit code, an HTTP problem); the
packages raise them with fields, never print.
"""


class SantegardeError(Exception):
    """A refusal or a problem a person can act on; its message is a complete sentence."""


class WordedError(SantegardeError):
    """A refusal worded in each language a person may read it in: French by default, English as the option.

    ``str()`` is the French sentence; the CLI prints ``in_language(lang)`` for a command's ``--lang``.
    """

    def __init__(self, sentences: dict[str, str]) -> None:
        if "fr" not in sentences:
            raise ValueError("a worded error needs at least its French sentence")
        self.sentences = dict(sentences)
        super().__init__(self.sentences["fr"])

    def in_language(self, lang: str) -> str:
        """The sentence in ``lang`` (French when the error is not worded in it)."""
        return self.sentences.get(lang, self.sentences["fr"])
