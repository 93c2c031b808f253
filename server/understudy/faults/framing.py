"""Framing chaos: the same events, laid out in legal but unusual bytes.

Every transformation keeps the stream valid SSE, so a spec-compliant client reads the
same events; what changes is what a hand-rolled parser sees: several writes per event
(so several TCP segments and chunked-encoding chunks), a multi-byte UTF-8 character cut
between writes, CRLF / CR / mixed line endings, comment lines, a JSON document spread
over several ``data:`` lines.
"""

from dataclasses import dataclass
from itertools import pairwise


@dataclass(frozen=True, slots=True)
class Framing:
    write_size: int | None = None
    """Split every event into writes of this many bytes (the last may be shorter)."""
    split_utf8: bool = False
    """Also cut each write after the first byte of every multi-byte UTF-8 character."""
    line_ending: str = "lf"
    """``crlf``/``cr`` replace every LF; ``mixed`` ends lines with LF and the blank line
    that ends an event with CRLF (``\\n\\r\\n``, the separator the TS SDKs miss)."""
    comment: bytes | None = None
    """A ``: <comment>`` line put before every event."""
    multiline_data: bool = False
    """Spread each JSON object over one ``data:`` line per top-level member."""
    write_gap: float = 0.0
    """Seconds between the writes of one event, so they reach the client as separate reads."""

    def writes(self, frame: bytes) -> tuple[bytes, ...]:
        """The writes that carry ``frame``."""
        data = frame
        if self.multiline_data:
            data = multiline(data)
        if self.comment is not None and not data.startswith(b":"):
            data = b": " + self.comment + b"\n" + data
        data = line_endings(data, self.line_ending)
        return split(data, self.write_size, self.split_utf8)


def multiline(frame: bytes) -> bytes:
    """Each ``data: {...}`` line becomes several ``data:`` lines, cut after top-level commas.

    Clients join ``data:`` lines with LF, which JSON reads as whitespace between members.
    """
    lines = []
    for line in frame.split(b"\n"):
        if line.startswith(b"data: {"):
            pieces = _cut_members(line[6:])
            lines.append(b"\n".join(b"data: " + piece for piece in pieces))
        else:
            lines.append(line)
    return b"\n".join(lines)


def _cut_members(document: bytes) -> list[bytes]:
    pieces, start, depth, in_string, escaped = [], 0, 0, False, False
    for index, byte in enumerate(document):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"{[":
            depth += 1
        elif byte in b"}]":
            depth -= 1
        elif byte == 0x2C and depth == 1:  # a comma between top-level members
            pieces.append(document[start : index + 1])
            start = index + 1
    pieces.append(document[start:])
    return pieces


def line_endings(frame: bytes, style: str) -> bytes:
    if style == "crlf":
        return frame.replace(b"\n", b"\r\n")
    if style == "cr":
        return frame.replace(b"\n", b"\r")
    if style == "mixed" and frame.endswith(b"\n\n"):
        return frame[:-1] + b"\r\n"
    return frame


def split(data: bytes, size: int | None, utf8: bool) -> tuple[bytes, ...]:
    cuts: set[int] = set()
    if size:
        cuts.update(range(size, len(data), size))
    if utf8:
        cuts.update(i + 1 for i, byte in enumerate(data) if byte >= 0xC0 and i + 1 < len(data))
    if not cuts:
        return (data,)
    bounds = [0, *sorted(cuts), len(data)]
    return tuple(data[a:b] for a, b in pairwise(bounds))
