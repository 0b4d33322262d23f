"""DRF's JSON parser, answering with 400 (ParseError) what it used to let through to a 500."""

from __future__ import annotations

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from dora.json_checks import MAX_DEPTH, json_problem


class CheckedJSONParser(JSONParser):
    """JSONParser, plus: nesting too deep for the interpreter (RecursionError inside
    `json.load`, a 500 before) or deeper than MAX_DEPTH, numbers that are not finite, and
    lone surrogates are a 400 saying where. NUL in strings is left to the serializers, whose
    field messages name the field (DRF's CharField refuses it)."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_DEPTH} levels")
        if problem := json_problem(data):
            raise ParseError(f"JSON parse error - {problem}")
        return data
