"""Reading a buyer's answer to a ping or post with its campaign's response rule (pure functions).

A rule reads JSON by dotted paths, XML by XPath, text by regular expressions: accepted or not,
the price in currency units (as cents), a reason and the buyer's reference. Reading never raises.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

# The standard library's own parse of a pattern, walked to refuse exponential backtracking.
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parser  # type: ignore[attr-defined]
from typing import Any, Literal

import msgspec
import re2
from lxml import etree

from adapters.inbound.json import decode_json
from adapters.inbound.registry import split_content_type
from adapters.inbound.safexml import parse_xml
from buyers.campaigns import ResponseRule
from buyers.pricing import cents_from_units
from exchange.errors import ExchangeError, field_invalid

RuleFormat = Literal["json", "xml", "text"]

MAX_EXPRESSION_CHARS = 1000
# Buyer-written regexes run on buyer-written text: a bound on the text bounds backtracking.
MAX_TEXT_CHARS = 64 * 1024
MAX_VALUE_CHARS = 500
# What a backtracking regex (one RE2 cannot run) reads of an answer: even a quadratic pattern
# is over in well under a second at this length.
MAX_BACKTRACKING_TEXT_CHARS = 2048
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a pattern RE2 refuses is tried on Python's engine, not logged

_PATH_SEGMENT = re.compile(r"[0-9]+|[A-Za-z_$@][A-Za-z0-9_$@:-]*")
_INDEX = re.compile(r"[0-9]+")
_FALSY_TEXT = frozenset({"", "false", "0", "no", "null", "none"})
_MISSING: Any = object()


class BuyerAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """What a buyer said: accepted or not, and what it added."""

    accepted: bool
    price_cents: int | None = None
    reason: str | None = None
    reference: str | None = None


Reader = Callable[[Any], Any]  # a loaded answer → the value found, or _MISSING


class _RuleError(Exception):
    def __init__(self, where: str, code: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.code = code
        self.message = message


class _Unreadable(Exception):
    """The answer's body cannot be read in the rule's format."""


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    format: RuleFormat
    accepted: Reader
    price: Reader | None
    reason: Reader | None
    reference: Reader | None


def check_response_rule(rule: ResponseRule, field_prefix: str) -> None:
    """At save time: refuse (422, naming the field) a rule that could not be read with."""
    accepted = rule.accepted
    if (accepted.path is None) == (accepted.regex is None):
        raise field_invalid(
            f"{field_prefix}.accepted",
            "invalid_rule",
            "accepted needs exactly one of path (json, xml) or regex (text)",
        )
    if rule.format == "text" and accepted.path is not None:
        raise field_invalid(
            f"{field_prefix}.accepted.path",
            "invalid_rule",
            "a text rule reads with regular expressions: use accepted.regex",
        )
    if rule.format != "text" and accepted.regex is not None:
        kind = "dotted paths" if rule.format == "json" else "XPath"
        raise field_invalid(
            f"{field_prefix}.accepted.regex",
            "invalid_rule",
            f"a {rule.format} rule reads with {kind}: use accepted.path",
        )
    try:
        _compile_rule(rule.format, accepted.path, accepted.regex, rule.price, rule.reason, rule.reference)
    except _RuleError as exc:
        raise field_invalid(f"{field_prefix}.{exc.where}", exc.code, exc.message) from exc


def read_answer(rule: ResponseRule | None, status: int, body: bytes, content_type: str | None) -> BuyerAnswer:
    """Read an answer. Without a rule a 2xx accepts; with one a non-2xx never does."""
    is_success = 200 <= status < 300
    status_reason = None if is_success else f"HTTP {status}"
    if rule is None:
        return BuyerAnswer(accepted=is_success, reason=status_reason)
    accepted = rule.accepted
    try:
        compiled = _compile_rule(
            rule.format, accepted.path, accepted.regex, rule.price, rule.reason, rule.reference
        )
    except _RuleError as exc:
        return BuyerAnswer(accepted=False, reason=f"invalid response rule: {exc.where}: {exc}")
    try:
        document = _load(rule.format, body, content_type)
    except _Unreadable as exc:
        return BuyerAnswer(accepted=False, reason=status_reason or f"unreadable answer: {exc}")
    found = compiled.accepted(document)
    if found is _MISSING:
        is_accepted = False
    elif accepted.equals is not None:
        is_accepted = _same(found, accepted.equals)
    else:
        # A text rule accepts on a match; a path must find a true-ish value.
        is_accepted = rule.format == "text" or _is_truthy(found)
    reason = _as_text(_read(compiled.reason, document))
    return BuyerAnswer(
        accepted=is_success and is_accepted,
        price_cents=_as_cents(_read(compiled.price, document)),
        reason=reason if reason is not None else status_reason,
        reference=_as_text(_read(compiled.reference, document)),
    )


# --- rules: compiled once per distinct expression set --------------------------------------


@functools.lru_cache(maxsize=2048)
def _compile_rule(
    format: RuleFormat,
    accepted_path: str | None,
    accepted_regex: str | None,
    price: str | None,
    reason: str | None,
    reference: str | None,
) -> _CompiledRule:
    if format == "text":
        accepted = _compile_part(format, accepted_regex, "accepted.regex")
    else:
        accepted = _compile_part(format, accepted_path, "accepted.path")
    return _CompiledRule(
        format=format,
        accepted=accepted,
        price=None if price is None else _compile_part(format, price, "price"),
        reason=None if reason is None else _compile_part(format, reason, "reason"),
        reference=None if reference is None else _compile_part(format, reference, "reference"),
    )


def _compile_part(format: RuleFormat, expression: str | None, where: str) -> Reader:
    if expression is None or not expression.strip():
        raise _RuleError(where, "invalid_rule", "the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise _RuleError(where, "invalid_rule", f"longer than {MAX_EXPRESSION_CHARS} characters")
    if format == "json":
        return _json_reader(expression, where)
    if format == "xml":
        return _xpath_reader(expression, where)
    return _regex_reader(expression, where)


def _json_reader(path: str, where: str) -> Reader:
    segments = path.split(".")
    for segment in segments:
        if not _PATH_SEGMENT.fullmatch(segment):
            raise _RuleError(
                where,
                "invalid_path",
                f"{path!r} is not a dotted path of names and indexes (like data.result.0.id)",
            )
    return functools.partial(_walk, tuple(segments))


def _walk(segments: tuple[str, ...], document: Any) -> Any:
    value = document
    for segment in segments:
        if isinstance(value, dict):
            if segment in value:
                value = value[segment]
                continue
            # Buyers are loose about case ("Status" vs "status"): one unambiguous match will do.
            folded = [key for key in value if isinstance(key, str) and key.lower() == segment.lower()]
            if len(folded) != 1:
                return _MISSING
            value = value[folded[0]]
        elif isinstance(value, list) and _INDEX.fullmatch(segment) and int(segment) < len(value):
            value = value[int(segment)]
        else:
            return _MISSING
    return value


def _xpath_reader(expression: str, where: str) -> Reader:
    try:
        # No EXSLT regular expressions: an XPath must not run a buyer's backtracking pattern.
        xpath = etree.XPath(expression, regexp=False, smart_strings=False)
        xpath(etree.Element("answer"))  # an unknown prefix or function fails only when run
    except (etree.XPathError, ValueError) as exc:
        raise _RuleError(where, "invalid_xpath", f"not a valid XPath: {exc}") from exc
    return functools.partial(_first_xpath_result, xpath)


def _first_xpath_result(xpath: etree.XPath, root: Any) -> Any:
    try:
        result = xpath(root)
    except etree.XPathError:
        return _MISSING
    if isinstance(result, list):
        if not result:
            return _MISSING
        result = result[0]
        if isinstance(result, etree._Element):
            return "".join(result.itertext()).strip()
        if isinstance(result, tuple):  # a namespace node: (prefix, uri)
            return str(result[1])
    if isinstance(result, bytes):
        return result.decode("utf-8", "replace").strip()
    return result.strip() if isinstance(result, str) else result


def _regex_reader(pattern: str, where: str) -> Reader:
    """A buyer's regex, run by RE2 (linear time in the text, whatever the pattern) when RE2 can
    read it; only a pattern that needs backtracking (lookarounds, backreferences) runs on Python's
    engine, refused when its repeats are ambiguous and given only the first
    MAX_BACKTRACKING_TEXT_CHARS of the answer, so no buyer can stall a process with its answers."""
    try:
        return functools.partial(_first_match, re2.compile(pattern, _RE2_OPTIONS), MAX_TEXT_CHARS)
    except (re2.error, UnicodeEncodeError):
        pass  # a construct RE2 lacks (or a lone surrogate): Python's engine, bounded below
    try:
        rewritten = python_regex(pattern)
        compiled = re.compile(rewritten)
        is_ambiguous = _repeats_ambiguously(sre_parser.parse(rewritten))
    except (re.error, OverflowError, RecursionError) as exc:
        raise _RuleError(where, "invalid_regex", f"not a valid regular expression: {exc}") from exc
    if is_ambiguous:
        raise _RuleError(
            where,
            "invalid_regex",
            "a repeated group that can match the same text in several ways (like (a+)+ or "
            "(a|aa)*) can take exponential time: repeat a character class or a single item instead",
        )
    return functools.partial(_first_match, compiled, MAX_BACKTRACKING_TEXT_CHARS)


# A repeat of more than this many times over a variable-length body backtracks exponentially.
_MAX_SAFE_REPEAT = 16


def _repeats_ambiguously(items: Any, inside_repeat: bool = False) -> bool:
    """Whether a parsed pattern repeats (unboundedly, or many times) a body that can itself match
    in several lengths or ways: the nested-quantifier shape whose backtracking is exponential.

    Possessive repeats and atomic groups never give back what they matched, so their own
    repetition is safe; what they hold is checked on its own."""
    for op, argument in items:
        if op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, high, body = argument
            if inside_repeat and low != high:
                return True
            if _repeats_ambiguously(body, inside_repeat or high > _MAX_SAFE_REPEAT):
                return True
        elif op is sre_constants.BRANCH:
            if inside_repeat:
                return True
            if any(_repeats_ambiguously(branch, inside_repeat) for branch in argument[1]):
                return True
        elif op is sre_constants.SUBPATTERN:
            if _repeats_ambiguously(argument[3], inside_repeat):
                return True
        elif op is sre_constants.POSSESSIVE_REPEAT:
            if _repeats_ambiguously(argument[2]):
                return True
        elif op is sre_constants.ATOMIC_GROUP:
            if _repeats_ambiguously(argument):
                return True
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            if _repeats_ambiguously(argument[1], inside_repeat):
                return True
        elif op is sre_constants.GROUPREF_EXISTS:
            _, yes, no = argument
            if inside_repeat or _repeats_ambiguously(yes) or (no is not None and _repeats_ambiguously(no)):
                return True
    return False


def _first_match(pattern: Any, limit: int, text: str) -> Any:
    try:
        match = pattern.search(text[:limit])
    except UnicodeEncodeError:  # RE2 reads UTF-8: a lone surrogate becomes U+FFFD
        match = pattern.search(text[:limit].encode("utf-8", "replace").decode("utf-8"))
    if match is None:
        return _MISSING
    if pattern.groups and match.group(1) is not None:
        return match.group(1)
    return match.group(0)


def python_regex(pattern: str) -> str:
    """Rewrite the PCRE spellings Python lacks: `(?<name>…)`, `(?'name'…)`, `\\k<name>`, `\\z`.

    Lookbehinds `(?<=` and `(?<!`, escapes and character classes are left as they are.
    """
    out: list[str] = []
    position, length, in_class = 0, len(pattern), False
    while position < length:
        char = pattern[position]
        if char == "\\" and position + 1 < length:
            escaped = pattern[position + 1]
            if not in_class and escaped == "k" and pattern[position + 2 : position + 3] in ("<", "{", "'"):
                close = {"<": ">", "{": "}", "'": "'"}[pattern[position + 2]]
                end = pattern.find(close, position + 3)
                if end > position + 3:
                    out.append(f"(?P={pattern[position + 3 : end]})")
                    position = end + 1
                    continue
            out.append("\\Z" if escaped == "z" and not in_class else pattern[position : position + 2])
            position += 2
        elif in_class:
            in_class = char != "]"
            out.append(char)
            position += 1
        elif char == "[":
            in_class = True
            start = position + 1
            start += pattern[start : start + 1] == "^"
            start += pattern[start : start + 1] == "]"  # a ']' first in a class is literal
            out.append(pattern[position:start])
            position = start
        elif pattern.startswith("(?<", position) and pattern[position + 3 : position + 4] not in ("=", "!"):
            out.append("(?P<")
            position += 3
        elif pattern.startswith("(?'", position) and (end := pattern.find("'", position + 3)) > position + 3:
            out.append(f"(?P<{pattern[position + 3 : end]}>")
            position = end + 1
        else:
            out.append(char)
            position += 1
    return "".join(out)


# --- answers: loading the body and turning found values into fields ----------------------


def _load(format: RuleFormat, body: bytes, content_type: str | None) -> Any:
    _, charset = split_content_type(content_type)
    if format == "text":
        return _decode_text(body, charset)[:MAX_TEXT_CHARS]
    try:
        if format == "json":
            return decode_json(body, charset)
        return _without_namespaces(parse_xml(body, charset))
    except ExchangeError as exc:
        raise _Unreadable(exc.message) from exc
    except (ValueError, etree.LxmlError, RecursionError) as exc:
        raise _Unreadable(str(exc) or type(exc).__name__) from exc


def _decode_text(body: bytes, charset: str | None) -> str:
    if body.startswith(b"\xef\xbb\xbf"):  # a UTF-8 byte order mark would defeat `^SUCCESS`
        return body[3:].decode("utf-8", "replace")
    if charset:
        try:
            return body.decode(charset, "replace")
        except (LookupError, UnicodeError, TypeError, ValueError):
            pass  # an unknown or non-text charset (or a NUL in its label): read it as UTF-8
    return body.decode("utf-8", "replace")


def _without_namespaces(root: etree._Element) -> etree._Element:
    """Rules name elements plainly: `//status` finds `<status xmlns="urn:buyer">` too."""
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = etree.QName(element).localname
    etree.cleanup_namespaces(root)
    return root


def _read(reader: Reader | None, document: Any) -> Any:
    return _MISSING if reader is None else reader(document)


def _normal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip().lower()


def _same(value: Any, equals: Any) -> bool:
    if isinstance(value, dict | list) or isinstance(equals, dict | list):
        return bool(value == equals)
    if value is None:
        return False
    return _normal(value) == _normal(equals)


def _is_truthy(value: Any) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float):
        return value != 0 and not math.isnan(value)
    if isinstance(value, str):
        return value.strip().lower() not in _FALSY_TEXT
    return bool(value)


def _as_text(value: Any) -> str | None:
    if value is _MISSING or value is None:
        return None
    if isinstance(value, bool | float):
        text = _normal(value)
    elif isinstance(value, dict | list):
        text = msgspec.json.encode(value).decode()
    else:
        text = str(value).strip()
    return text[:MAX_VALUE_CHARS] or None


def _as_cents(value: Any) -> int | None:
    """A price in currency units ("12.50", 12.5) as cents; None when it is not a price."""
    if isinstance(value, str | int | float):
        return cents_from_units(value)
    return None
