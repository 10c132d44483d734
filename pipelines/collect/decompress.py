"""Content-Encoding undone by us, layer by layer, with a cap on every inflated byte.

httpx inflates a whole compressed chunk at once, so a few kilobytes sent as
``Content-Encoding: gzip, gzip`` become hundreds of megabytes before any cap can
look at them. Here each layer inflates at most ``STEP`` bytes per call and the
cap counts what every layer produced, so memory stays near the cap whatever
the body claims to be.
"""

from __future__ import annotations

import zlib
from typing import Any

STEP = 64 * 1024
_GZIP = 16 + zlib.MAX_WBITS


class BodyTooLarge(ValueError):
    """The body inflates past the cap."""


class UnsupportedEncoding(ValueError):
    """A Content-Encoding we do not undo (br, zstd, compress...)."""


def encodings_of(header: str | None) -> list[str]:
    """The codings applied, in the order they were applied (the header's order)."""
    codings = [c.strip().lower() for c in (header or "").split(",") if c.strip()]
    return [c for c in codings if c != "identity"]


class _Layer:
    def __init__(self, coding: str) -> None:
        if coding in ("gzip", "x-gzip"):
            self.wbits: int | None = _GZIP
        elif coding == "deflate":
            self.wbits = None  # decided from the layer's first bytes
        else:
            raise UnsupportedEncoding(f"Content-Encoding {coding!r} is not supported")
        self.inflater: Any = None  # zlib's decompressor, made on the first bytes

    def _start(self, data: bytes) -> None:
        wbits = self.wbits
        if wbits is None:  # "deflate" is zlib-wrapped in practice, raw in some servers
            wbits = zlib.MAX_WBITS if data[:1] == b"\x78" else -zlib.MAX_WBITS
        self.inflater = zlib.decompressobj(wbits)

    def inflate(self, data: bytes, budget: Budget) -> bytes:
        if not data:
            return b""
        if self.inflater is None:
            self._start(data)
        out = bytearray()
        while data:
            piece = self.inflater.decompress(data, STEP)
            budget.spend(len(piece))
            out += piece
            data = self.inflater.unconsumed_tail
        return bytes(out)

    def finish(self, budget: Budget) -> bytes:
        if self.inflater is None:
            return b""
        piece = self.inflater.flush()
        budget.spend(len(piece))
        return piece


class Budget:
    def __init__(self, cap: int) -> None:
        self.cap, self.used = cap, 0

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.cap:
            raise BodyTooLarge(f"body larger than {self.cap} bytes (counted after decompression); "
                               "refused")


class Decoder:
    """Feed raw chunks, get decoded bytes; raises BodyTooLarge past ``cap`` inflated
    bytes (all layers counted) and zlib.error on a corrupt layer."""

    def __init__(self, content_encoding: str | None, cap: int) -> None:
        # Undone in reverse: the last coding applied is the outermost.
        self.layers = [_Layer(c) for c in reversed(encodings_of(content_encoding))]
        self.budget = Budget(cap)

    def feed(self, data: bytes) -> bytes:
        for layer in self.layers:
            data = layer.inflate(data, self.budget)
        return self._count(data)

    def finish(self) -> bytes:
        data = b""
        for layer in self.layers:
            data = layer.inflate(data, self.budget) + layer.finish(self.budget)
        return self._count(data)

    def _count(self, data: bytes) -> bytes:
        if not self.layers:  # identity: the raw bytes are the body, counted once
            self.budget.spend(len(data))
        return data
