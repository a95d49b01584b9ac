"""Starting the real Gradio server on a free loopback port, over a private copy of the test corpus."""
import shutil
import socket
from pathlib import Path

from bot import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, seconds: float = 180) -> bool:
    """Whether a server started in another process answers at url within the time."""
    import time
    import urllib.request
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return True
        except OSError:
            time.sleep(0.5)
    return False


def copy_settings(base: Settings, folder: Path) -> Settings:
    """A copy of base's corpus and already-built index in folder, so uploads do not touch other tests.

    copy2 keeps modification times, so the copied index is up to date and loads without a rebuild.
    """
    shutil.copytree(base.corpus, folder / "corpus", copy_function=shutil.copy2)
    if base.index.is_dir():
        shutil.copytree(base.index, folder / "index", copy_function=shutil.copy2)
    return Settings(corpus=folder / "corpus", index=folder / "index", feedback=folder / "feedback.jsonl")


def start(settings: Settings, ready_timeout: float = 180, wait: bool = True, **serve_args):
    """(url, demo, engine) for a server running in this process; call demo.close() when done.

    wait=False returns while the index may still be building (for the waiting-room tests);
    serve_args go to serve (users=FILE for sign-in)."""
    from bot.ui import serve
    port = free_port()
    demo, engine = serve(settings, host="127.0.0.1", port=port, block=False, **serve_args)
    if wait and (not engine.ready.wait(ready_timeout) or engine.bot is None):
        demo.close()
        raise RuntimeError(f"the index did not come up: {engine.error}")
    return f"http://127.0.0.1:{port}/", demo, engine
