"""Field lengths as a segment stores them: one byte a document, Whoosh's logarithmic code."""

from __future__ import annotations

from whoosh.util.numeric import byte_to_length as _byte_to_length
from whoosh.util.numeric import length_to_byte

#: The length each of the 256 stored bytes stands for.
LENGTHS: tuple[int, ...] = tuple(int(_byte_to_length(b)) for b in range(256))


def byte_to_length(b: int) -> int:
    return LENGTHS[b]


__all__ = ["LENGTHS", "byte_to_length", "length_to_byte"]
