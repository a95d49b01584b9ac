"""The chat in a browser (Gradio): chat, documents panel, sources panel with a document viewer, /ask.

page builds the Blocks, rendering turns answers into escaped HTML, viewer shows a passage in its
document, engine holds the Chatbot while it (re)builds. Gradio itself is imported only in page.build.
"""
from .engine import Engine
from .page import EXAMPLES, WAITING, build, chat_turn, is_loopback, new_session, pending, serve
from .rendering import (answer_html, conversation_text, documents_html, highlighted, progress_html, sources_html,
                        status_html)
from .viewer import viewer_html

__all__ = ["Engine", "EXAMPLES", "WAITING", "answer_html", "build", "chat_turn", "conversation_text",
           "documents_html", "highlighted", "is_loopback", "new_session", "pending", "progress_html", "serve",
           "sources_html", "status_html", "viewer_html"]
