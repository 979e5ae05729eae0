"""Reading a request body as JSON text, for the JSON API and the FHIR facade alike: its encoding,
and its depth, before any parser sees it."""
from __future__ import annotations

import json
import re

from pharmsafe.errors import MalformedBody

# No request body of this API nests deeper than three levels. A body nested far deeper (a thousand
# arrays inside each other) exhausts the parser's recursion: it is refused here, as malformed, before
# anything else reads it.
MAX_JSON_DEPTH = 32
TOO_DEEP = (f"Arrays and objects are nested more than {MAX_JSON_DEPTH} levels deep; no request of this "
             "API needs more than a few.")


# A JSON string (to its closing quote, or to the end of a body that never closes it) or a bracket.
# The string's loop is possessive and the token always matches once begun, so one pass over the text
# is linear however the quotes and backslashes are arranged.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def json_text(raw: bytes) -> str:
    """The body as text, in the encoding JSON allows it to come in (UTF-8, -16 or -32, as json.loads
    detects it); bytes that are not text in it are a 400."""
    try:
        return raw.decode(json.detect_encoding(raw))
    except UnicodeDecodeError as exc:
        raise MalformedBody(f"it is not text in {exc.encoding} ({exc.reason} at byte {exc.start}).") from None


def nested_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the text's arrays and objects nest deeper than ``limit`` (a top-level object is level
    1), read before any parser sees it: a parser that recurses a thousand levels deep raises
    RecursionError, and on CPython 3.11 the interpreter's recursion count can stay off afterwards,
    so that a later compile() of a template fails. Brackets inside strings don't count."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > limit:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False
