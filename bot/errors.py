"""The errors the bot reports to people: one line each, naming the path and the fix."""


class BotError(Exception):
    """Base class: anything the CLI and UI show as a one-line message instead of a traceback."""


class CorpusError(BotError):
    """The corpus folder is missing, empty or holds nothing readable."""


class IndexCorrupt(BotError):
    """The index on disk is missing, truncated or does not match its manifest."""


class EmbedderError(BotError):
    """The embedding model cannot be loaded."""


class QuestionError(BotError):
    """The question cannot be answered as given (empty, unreadable)."""


class UploadError(BotError):
    """An uploaded document was refused (name, type or size)."""


class UnreadableDocument(BotError):
    """A document's parser could not read it (encrypted or scanned PDF, broken DOCX)."""


class StoreError(BotError):
    """The index store (a PostgreSQL database) cannot be reached or used as given."""


class UsersError(BotError):
    """The users file or a users command is wrong (name, role, password, malformed file)."""
