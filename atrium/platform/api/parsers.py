"""The JSON parser of every API view: bounded in size and nesting before it costs CPU.

Python's JSON decoder recurses once per nesting level, so a 50,000-deep array (a 100 kB
body) ends in a ``RecursionError``, and a few thousand levels already cost a long parse
for a document no endpoint accepts. The body is read up to ``DATA_UPLOAD_MAX_MEMORY_SIZE``
(Django only checks it on ``request.body``, which DRF does not use for JSON), its nesting
depth is checked against ``ATRIUM_JSON_MAX_DEPTH`` with a scan that stops at the first
level too deep, and only then is it decoded. Every refusal is a 400 (413 for the size)
in the one error shape.
"""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

from atrium.conf import atrium_settings
from atrium.errors import error_code

JSON_TOO_DEEP = error_code(
    400, "json_too_deep", "The JSON body nests deeper than ATRIUM_JSON_MAX_DEPTH levels."
)

# A JSON string (skipped whole: brackets inside it are text) or one bracket.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


def nesting_exceeds(text: str, limit: int) -> bool:
    """Whether arrays and objects in ``text`` nest deeper than ``limit`` levels."""
    if text.count("[") + text.count("{") <= limit:
        return False  # the common case, at C speed: too few brackets to nest that deep
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read() if limit is None else stream.read(limit + 1)
        if limit is not None and len(raw) > limit:
            raise RequestDataTooBig(
                f"The request body exceeds {limit} bytes (DATA_UPLOAD_MAX_MEMORY_SIZE)."
            )
        try:
            text = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise ParseError(f"JSON parse error - the body is not {encoding}: {exc}") from None
        max_depth = atrium_settings.JSON_MAX_DEPTH
        if nesting_exceeds(text, max_depth):
            raise ParseError(
                f"The JSON document nests deeper than {max_depth} levels; no endpoint takes "
                "documents that deep.",
                code=JSON_TOO_DEEP,
            )
        try:
            return json.loads(text, parse_constant=strict_constant if self.strict else None)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:  # only with ATRIUM_JSON_MAX_DEPTH above the recursion limit
            raise ParseError(
                "The JSON document nests too deep to be read.", code=JSON_TOO_DEEP
            ) from None
