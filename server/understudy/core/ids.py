"""Identifiers in the shapes the real providers use."""

import os
import string

_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"
# Random bytes mapped onto an alphabet with one ``bytes.translate``: several times faster
# than ``random.choices`` per id, which matters at thousands of requests a second. (The
# mapping is slightly uneven across the alphabet; ids only need to look real.)
_TABLES = {
    alphabet: bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))
    for alphabet in (_ALNUM, _HEX)
}


def _pick(alphabet: str, n: int) -> str:
    return os.urandom(n).translate(_TABLES[alphabet]).decode()


def chat_completion_id() -> str:
    return "chatcmpl-" + _pick(_ALNUM, 29)


def openai_tool_call_id() -> str:
    return "call_" + _pick(_ALNUM, 24)


def openai_request_id() -> str:
    return "req_" + _pick(_HEX, 32)


def system_fingerprint() -> str:
    return "fp_" + _pick(_HEX, 10)


def anthropic_message_id() -> str:
    return "msg_01" + _pick(_ALNUM, 22)


def anthropic_tool_use_id() -> str:
    return "toolu_01" + _pick(_ALNUM, 22)


def anthropic_request_id() -> str:
    return "req_011" + _pick(_ALNUM, 21)


def response_id() -> str:
    return "resp_" + _pick(_HEX, 50)


def response_item_id(prefix: str) -> str:
    """``msg_``, ``fc_`` or ``rs_`` followed by 50 hex digits."""
    return prefix + "_" + _pick(_HEX, 50)


def obfuscation(n: int) -> str:
    return _pick(_ALNUM, n)
