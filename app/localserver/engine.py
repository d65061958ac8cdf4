"""The llama.cpp engine: one model, one context, one KV sequence per session.

Everything that touches the context (decode, logits, KV edits, generation) must run on
the single model worker thread (see worker.py): llama.cpp contexts are not thread-safe,
and serialising keeps each session's sequence consistent. tokenize/detokenize/piece read
only the vocabulary and are called from the event loop too, so that routes which only
tokenize or read bookkeeping never queue behind model work.
Flash attention stays off: with it on, logits depended on how text was split into
batches, and long-context queries were several times slower on this CPU.
"""

from __future__ import annotations

import codecs
import ctypes
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger("layerscale.localserver.engine")

# Hold a reference so ctypes does not free the callback while llama.cpp still calls it.
_LOG_CALLBACK = None


def _install_log_filter(llama_cpp: object) -> None:
    """Route llama.cpp's chatter to our logger at debug level (keeps stdout readable)."""
    global _LOG_CALLBACK

    @llama_cpp.llama_log_callback  # type: ignore[attr-defined, misc]
    def _callback(level: int, text: bytes, _user: ctypes.c_void_p) -> None:
        if text and log.isEnabledFor(logging.DEBUG):
            log.debug("llama.cpp: %s", text.decode("utf-8", "replace").rstrip())

    _LOG_CALLBACK = _callback
    llama_cpp.llama_log_set(_callback, ctypes.c_void_p(0))  # type: ignore[attr-defined]


class DecodeError(RuntimeError):
    """llama_decode failed; `full` is True when no KV slot was left (return code 1)."""

    def __init__(self, message: str, *, full: bool) -> None:
        super().__init__(message)
        self.full = full


@dataclass
class Generation:
    tokens: list[int] = field(default_factory=list)
    text: str = ""
    finish_reason: str = "length"
    first_gap: float | None = None
    speculative: bool = False
    n_decoded: int = 0  # generated tokens already in the KV sequence
    stop_sequence: str | None = None


@dataclass
class DecodePart:
    """Tokens for one sequence in a shared decode: positions pos0.. of `seq`."""

    seq: int
    tokens: Sequence[int]
    pos0: int
    want_logits: bool = True


@dataclass
class GreedyStart:
    """Where one greedy answer starts: `logits` are the output after position pos-1."""

    seq: int
    pos: int
    logits: np.ndarray
    max_tokens: int


class Engine:
    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx_per_seq: int,
        n_seq: int,
        threads: int,
        gpu_layers: int,
        n_batch: int = 512,
    ) -> None:
        import llama_cpp  # imported here so the HTTP side starts before the heavy load

        self._l = llama_cpp
        _install_log_filter(llama_cpp)
        llama_cpp.llama_backend_init()
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = gpu_layers
        model = llama_cpp.llama_model_load_from_file(str(model_path).encode(), mparams)
        if not model:
            raise RuntimeError(f"could not load model {model_path}")
        self.model = model
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = n_ctx_per_seq * n_seq
        cparams.n_batch = n_batch
        cparams.n_ubatch = n_batch
        cparams.n_seq_max = n_seq
        cparams.n_threads = threads
        cparams.n_threads_batch = threads
        cparams.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        cparams.kv_unified = False
        cparams.no_perf = True
        ctx = llama_cpp.llama_init_from_model(model, cparams)
        if not ctx:
            llama_cpp.llama_model_free(model)
            raise RuntimeError("could not create llama.cpp context")
        self.ctx = ctx
        self.mem = llama_cpp.llama_get_memory(ctx)
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self.n_vocab = int(llama_cpp.llama_vocab_n_tokens(self.vocab))
        self.n_batch = n_batch
        self.threads = threads
        self.n_seq = n_seq
        self.n_ctx_seq = int(llama_cpp.llama_n_ctx_seq(ctx))
        self.add_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self.bos = int(llama_cpp.llama_vocab_bos(self.vocab))
        self._batch = llama_cpp.llama_batch_init(n_batch, 0, 1)
        self._piece_cache: dict[int, bytes] = {}
        log.debug("context: %d tokens per sequence, %d sequences", self.n_ctx_seq, n_seq)

    def set_threads(self, threads: int) -> None:
        """worker: threads for both generation and prompt evaluation from now on."""
        self._l.llama_set_n_threads(self.ctx, threads, threads)
        self.threads = threads

    # -- metadata -----------------------------------------------------------------------

    def chat_template(self) -> str | None:
        raw = self._l.llama_model_chat_template(self.model, None)
        return raw.decode("utf-8", "replace") if raw else None

    def token_text(self, token: int) -> str:
        raw = self._l.llama_vocab_get_text(self.vocab, token)
        return raw.decode("utf-8", "replace") if raw else ""

    @property
    def eos_token_id(self) -> int:
        return int(self._l.llama_vocab_eos(self.vocab))

    # -- text <-> tokens ------------------------------------------------------------------

    def tokenize(self, text: str, *, add_special: bool = False, parse_special: bool = False
                 ) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (self._l.llama_token * cap)()
        n = self._l.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special,
                                   parse_special)
        if n < 0:
            cap = -n
            buf = (self._l.llama_token * cap)()
            n = self._l.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special,
                                       parse_special)
        return list(buf[:n])

    def piece(self, token: int, *, special: bool = False) -> bytes:
        key = token if not special else -token - 1
        cached = self._piece_cache.get(key)
        if cached is not None:
            return cached
        buf = ctypes.create_string_buffer(64)
        n = self._l.llama_token_to_piece(self.vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = self._l.llama_token_to_piece(self.vocab, token, buf, -n, 0, special)
        out = buf.raw[:n]
        self._piece_cache[key] = out
        return out

    def detokenize(self, tokens: Sequence[int], *, special: bool = True) -> str:
        return b"".join(self.piece(t, special=special) for t in tokens).decode("utf-8", "replace")

    def is_eog(self, token: int) -> bool:
        return bool(self._l.llama_vocab_is_eog(self.vocab, token))

    # -- KV sequence operations ---------------------------------------------------------------

    def decode(self, seq: int, tokens: Sequence[int], pos0: int, *, want_logits: bool = True
               ) -> None:
        """Decode tokens into `seq` at positions pos0.. ; all-or-nothing on failure."""
        batch = self._batch
        done = 0
        total = len(tokens)
        while done < total:
            n = min(self.n_batch, total - done)
            for i in range(n):
                batch.token[i] = tokens[done + i]
                batch.pos[i] = pos0 + done + i
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = 0
            if want_logits and done + n == total:
                batch.logits[n - 1] = 1
            batch.n_tokens = n
            rc = self._l.llama_decode(self.ctx, batch)
            if rc != 0:
                # Earlier chunks of this call stay in memory: remove them so the sequence
                # ends exactly where it did before the call.
                self.seq_rm(seq, pos0, -1)
                raise DecodeError(f"llama_decode returned {rc}", full=rc == 1)
            done += n

    def decode_many(self, parts: Sequence[DecodePart]) -> list[np.ndarray | None]:
        """Decode the tokens of several sequences in shared llama_decode calls.

        Tokens of different sequences go into one llama_batch (up to n_batch tokens a
        call), so one pass over the weights serves them all: much cheaper than a call per
        sequence when each has only a few tokens (a generation step, a short question, a
        candle). Returns, per part, the logits after its last token when it asked for them.
        Each sequence only attends to its own positions, so the result is mathematically
        what decoding each part alone gives; parts of unequal length are cut by llama.cpp
        into uneven sub-batches whose CPU rounding differs slightly, so a caller needing
        bit-identical logits gives parts of equal length (flash.evaluate_round; proved in
        tests/localserver/test_batching.py). On failure every part is rolled back.
        """
        batch = self._batch
        out: list[np.ndarray | None] = [None] * len(parts)
        flat = [(index, part.seq, part.pos0 + i, token, part.want_logits and
                 i == len(part.tokens) - 1)
                for index, part in enumerate(parts) for i, token in enumerate(part.tokens)]
        for start in range(0, len(flat), self.n_batch):
            window = flat[start:start + self.n_batch]
            rows: list[tuple[int, int]] = []
            for i, (index, seq, pos, token, logits) in enumerate(window):
                batch.token[i] = token
                batch.pos[i] = pos
                batch.n_seq_id[i] = 1
                batch.seq_id[i][0] = seq
                batch.logits[i] = 1 if logits else 0
                if logits:
                    rows.append((index, i))
            batch.n_tokens = len(window)
            rc = self._l.llama_decode(self.ctx, batch)
            if rc != 0:
                for part in parts:
                    self.seq_rm(part.seq, part.pos0, -1)
                raise DecodeError(f"llama_decode returned {rc}", full=rc == 1)
            for index, row in rows:
                ptr = self._l.llama_get_logits_ith(self.ctx, row)
                out[index] = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()
        return out

    def generate_many(self, starts: Sequence[GreedyStart]) -> list[Generation]:
        """Greedy answers for several sequences at once, each step of all the unfinished
        ones decoded together (decode_many). The same tokens as `generate` gives each one
        alone, without stop strings, streaming or early stops (what flash queries use).
        The caller removes the answers' positions afterwards."""
        outs = [Generation() for _ in starts]
        decoders = [codecs.getincrementaldecoder("utf-8")(errors="replace") for _ in starts]
        logits: list[np.ndarray | None] = [s.logits for s in starts]
        pos = [s.pos for s in starts]
        live = [i for i, s in enumerate(starts) if s.max_tokens > 0]
        step = 0
        while live:
            stepping: list[int] = []
            for i in live:
                current = logits[i]
                assert current is not None
                token, gap = self.top_gap(current)
                out = outs[i]
                if step == 0:
                    out.first_gap = gap
                if self.is_eog(token):
                    out.finish_reason = "stop"
                    continue
                out.tokens.append(token)
                out.text += decoders[i].decode(self.piece(token))
                if step == starts[i].max_tokens - 1:
                    out.finish_reason = "length"
                    continue
                stepping.append(i)
            if stepping:
                got = self.decode_many([DecodePart(starts[i].seq, [outs[i].tokens[-1]], pos[i])
                                        for i in stepping])
                for i, row in zip(stepping, got, strict=True):
                    logits[i] = row
                    outs[i].n_decoded += 1
                    pos[i] += 1
            live = stepping
            step += 1
        for out, decoder in zip(outs, decoders, strict=True):
            out.text += decoder.decode(b"", final=True)
        return outs

    def last_logits(self) -> np.ndarray:
        ptr = self._l.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

    def seq_rm(self, seq: int, p0: int, p1: int) -> None:
        self._l.llama_memory_seq_rm(self.mem, seq, p0, p1)

    def seq_shift(self, seq: int, p0: int, p1: int, delta: int) -> None:
        self._l.llama_memory_seq_add(self.mem, seq, p0, p1, delta)

    def seq_clear(self, seq: int) -> None:
        self._l.llama_memory_seq_rm(self.mem, seq, -1, -1)

    # -- generation -------------------------------------------------------------------------

    @staticmethod
    def top_gap(logits: np.ndarray) -> tuple[int, float]:
        """Greedy token and the gap between the two highest logits (the confidence)."""
        top2 = np.argpartition(logits, -2)[-2:]
        a, b = float(logits[top2[0]]), float(logits[top2[1]])
        best = int(np.argmax(logits))
        return best, abs(a - b)

    def generate(
        self,
        seq: int,
        pos: int,
        logits: np.ndarray,
        max_tokens: int,
        *,
        stop: Sequence[str] = (),
        on_token: Callable[[int, str, int], None] | None = None,
        sure_gap: float | None = None,
    ) -> Generation:
        """Greedy generation from `logits` (the output after position pos-1).

        With `sure_gap`, stop early at the first token whose logit gap falls below it
        (only when the first token itself was sure: a speculative fast answer).
        The caller removes positions >= pos afterwards unless it keeps the answer.
        """
        out = Generation()
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = ""
        # Text that could still become a stop sequence is held back from streaming.
        hold = max((len(s) for s in stop if s), default=1) - 1
        emitted = 0
        token = -1
        for step in range(max_tokens):
            token, gap = self.top_gap(logits)
            if step == 0:
                out.first_gap = gap
                out.speculative = sure_gap is not None and gap >= sure_gap
            elif out.speculative and sure_gap is not None and gap < sure_gap:
                out.finish_reason = "stop"
                break
            if self.is_eog(token):
                out.finish_reason = "stop"
                break
            out.tokens.append(token)
            text += decoder.decode(self.piece(token))
            hit = _find_stop(text, stop)
            if hit is not None:
                text = text[: hit[0]]
                out.stop_sequence = hit[1]
                out.finish_reason = "stop"
                break
            if on_token is not None and len(text) - hold > emitted:
                on_token(token, text[emitted:len(text) - hold], pos)
                emitted = len(text) - hold
            if step == max_tokens - 1:
                out.finish_reason = "length"
                break
            self.decode(seq, [token], pos)
            out.n_decoded += 1
            pos += 1
            logits = self.last_logits()
        if out.stop_sequence is None:
            text += decoder.decode(b"", final=True)
        out.text = text
        if on_token is not None and len(text) > emitted:
            on_token(token, text[emitted:], pos)
        return out

    def close(self) -> None:
        self._l.llama_batch_free(self._batch)
        self._l.llama_free(self.ctx)
        self._l.llama_model_free(self.model)


def _find_stop(text: str, stop: Sequence[str]) -> tuple[int, str] | None:
    hits = [(text.find(s), s) for s in stop if s]
    hits = [h for h in hits if h[0] >= 0]
    return min(hits) if hits else None
