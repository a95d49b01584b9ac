"""An offline chatbot that answers questions about your documents, with citations."""
from .config import Settings
from .errors import BotError
from .records import Answer, Chunk, Citation, Hit


def __getattr__(name):
    # Chatbot pulls in numpy and FAISS: imported on first use so `python -m bot --help` stays fast.
    if name == "Chatbot":
        from .chatbot import Chatbot
        return Chatbot
    raise AttributeError(name)


__all__ = ["Chatbot", "Settings", "Answer", "Chunk", "Citation", "Hit", "BotError"]
