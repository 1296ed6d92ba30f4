"""The run filter and order-by language, parsed into SQLAlchemy expressions (never SQL text).

Grammar (keywords are case-insensitive)::

    filter     := disjunct ("or" disjunct)*
    disjunct   := term ("and" term)*
    term       := "(" filter ")" | "not" term | comparison
    comparison := field op literal | field ["not"] "in" "(" literal ("," literal)* ")"
                | field "is" ["not"] "null"
    field      := ("metrics" | "params" | "tags" | "attributes") "." key  |  attribute
    key        := name characters (letters, digits, _ - . : /)  |  `any text in backticks`
    op         := = | == | != | <> | < | <= | > | >= | like | ilike | not like
    literal    := number | 'text' | "text"

``metrics.accuracy > 0.9 and params.model = 'lr'`` keeps the runs whose latest ``accuracy`` is above 0.9
and whose ``model`` parameter is ``lr``. A run that lacks the key never matches a comparison on it; use
``is null`` to find such runs. Order-by items are ``field [asc|desc]``; runs without the field sort last.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, not_, or_, true
from sqlalchemy.sql.elements import UnaryExpression

from loopwright.errors import FilterSyntaxError
from loopwright.store.schema import latest_metrics, params, run_tags, runs

__all__ = ["OrderKey", "compile_filter", "order_clauses", "parse_order_by"]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
  | (?P<field>[A-Za-z_][\w]*\.(?:`[^`]*`|[\w\-.:/]+)|[A-Za-z_]\w*)
  | (?P<op><=|>=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_PREFIXES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "parameters": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}

# Attribute name -> (column, kind). Times compare with epoch milliseconds or ISO-8601 text.
_ATTRIBUTES: dict[str, tuple[Any, str]] = {
    "id": (runs.c.id, "text"),
    "run_id": (runs.c.id, "text"),
    "name": (runs.c.name, "text"),
    "run_name": (runs.c.name, "text"),
    "status": (runs.c.status, "text"),
    "kind": (runs.c.kind, "text"),
    "user": (runs.c.user, "text"),
    "host": (runs.c.host, "text"),
    "git_commit": (runs.c.git_commit, "text"),
    "parent_id": (runs.c.parent_id, "text"),
    "start_time": (runs.c.start_ms, "time"),
    "end_time": (runs.c.end_ms, "time"),
}

MAX_DEPTH = 64
"""Deepest nesting of parentheses and ``not`` a filter may use (deeper would exhaust the stack)."""

_KEYWORDS = {"and", "or", "not", "in", "is", "null", "like", "ilike", "asc", "desc"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number | string | field | op | punct | keyword | end
    text: str
    position: int

    @property
    def value(self) -> str:
        return self.text.lower() if self.kind == "keyword" else self.text


@dataclass(frozen=True, slots=True)
class _Field:
    family: str  # metric | param | tag | attribute
    key: str


@dataclass(frozen=True, slots=True)
class OrderKey:
    """One parsed order-by item."""

    family: str
    key: str
    descending: bool


def _tokenize(expression: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None:
            raise FilterSyntaxError(
                f"Unexpected character {expression[position]!r} at position {position} in {expression!r}.",
                expression=expression,
                position=position,
            )
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "field" and text.lower() in _KEYWORDS:
            kind = "keyword"
        if kind != "space":
            tokens.append(_Token(kind, text, position))
        position = match.end()
    tokens.append(_Token("end", "", len(expression)))
    return tokens


def _field(token: _Token, expression: str) -> _Field:
    if "." not in token.text:
        name = token.text.lower()
        if name not in _ATTRIBUTES:
            raise FilterSyntaxError(
                f"Unknown field {token.text!r} at position {token.position}: expected metrics.<key>, "
                f"params.<key>, tags.<key> or one of the attributes {', '.join(sorted(_ATTRIBUTES))}.",
                expression=expression,
                position=token.position,
            )
        return _Field("attribute", name)
    prefix, key = token.text.split(".", 1)
    family = _PREFIXES.get(prefix.lower())
    if family is None:
        raise FilterSyntaxError(
            f"Unknown field prefix {prefix!r} at position {token.position}: expected metrics., params., "
            "tags. or attributes.",
            expression=expression,
            position=token.position,
        )
    if key.startswith("`") and key.endswith("`"):
        key = key[1:-1]
    if not key:
        raise FilterSyntaxError(
            f"The field {token.text!r} at position {token.position} has an empty key.",
            expression=expression,
            position=token.position,
        )
    if family == "attribute":
        if key.lower() not in _ATTRIBUTES:
            raise FilterSyntaxError(
                f"Unknown attribute {key!r} at position {token.position}: expected one of "
                f"{', '.join(sorted(_ATTRIBUTES))}.",
                expression=expression,
                position=token.position,
            )
        key = key.lower()
    return _Field(family, key)


class _Parser:
    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = _tokenize(expression)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, expected: str, token: _Token | None = None) -> FilterSyntaxError:
        token = token or self.current
        found = "end of the filter" if token.kind == "end" else repr(token.text)
        return FilterSyntaxError(
            f"Unexpected {found} at position {token.position} in filter {self.expression!r}: "
            f"expected {expected}.",
            expression=self.expression,
            position=token.position,
        )

    def accept(self, *keywords: str) -> bool:
        if self.current.kind == "keyword" and self.current.value in keywords:
            self.index += 1
            return True
        return False

    def expect_punct(self, text: str) -> None:
        if self.current.kind != "punct" or self.current.text != text:
            raise self.error(repr(text))
        self.index += 1

    # filter := disjunct ("or" disjunct)*
    def parse(self) -> ColumnElement[bool]:
        condition = self.parse_or()
        if self.current.kind != "end":
            raise self.error("'and', 'or' or the end of the filter")
        return condition

    def parse_or(self) -> ColumnElement[bool]:
        parts = [self.parse_and()]
        while self.accept("or"):
            parts.append(self.parse_and())
        return parts[0] if len(parts) == 1 else or_(*parts)

    def parse_and(self) -> ColumnElement[bool]:
        parts = [self.parse_term()]
        while self.accept("and"):
            parts.append(self.parse_term())
        return parts[0] if len(parts) == 1 else and_(*parts)

    def parse_term(self) -> ColumnElement[bool]:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FilterSyntaxError(
                f"The filter nests parentheses or 'not' more than {MAX_DEPTH} levels deep at position "
                f"{self.current.position}; simplify it.",
                expression=self.expression,
                position=self.current.position,
            )
        try:
            if self.current.kind == "punct" and self.current.text == "(":
                self.advance()
                inner = self.parse_or()
                self.expect_punct(")")
                return inner
            if self.accept("not"):
                return not_(self.parse_term())
            return self.parse_comparison()
        finally:
            self.depth -= 1

    def parse_comparison(self) -> ColumnElement[bool]:
        token = self.current
        if token.kind != "field":
            raise self.error("a field such as metrics.accuracy, params.model, tags.team or status")
        self.advance()
        field = _field(token, self.expression)
        operator_token = self.current
        if self.accept("is"):
            negate = self.accept("not")
            if not self.accept("null"):
                raise self.error("'null'")
            present = _presence(field)
            return present if negate else not_(present)
        if self.accept("not"):
            if self.accept("in"):
                values = self.parse_list(field)
                return _compare(field, "not in", values, operator_token, self.expression)
            if self.accept("like"):
                _check_operator(field, "not like", operator_token, self.expression)
                return _compare(field, "not like", self.parse_literal(field), operator_token, self.expression)
            raise self.error("'in' or 'like' after 'not'")
        if self.accept("in"):
            return _compare(field, "in", self.parse_list(field), operator_token, self.expression)
        if self.accept("like", "ilike"):
            operator = self.tokens[self.index - 1].value
            _check_operator(field, operator, operator_token, self.expression)
            return _compare(field, operator, self.parse_literal(field), operator_token, self.expression)
        if operator_token.kind != "op":
            raise self.error("a comparison operator (=, !=, <, <=, >, >=, like, ilike, in, is null)")
        self.advance()
        operator = {"==": "=", "<>": "!="}.get(operator_token.text, operator_token.text)
        _check_operator(field, operator, operator_token, self.expression)
        return _compare(field, operator, self.parse_literal(field), operator_token, self.expression)

    def parse_list(self, field: _Field) -> list[Any]:
        self.expect_punct("(")
        values = [self.parse_literal(field)]
        while self.current.kind == "punct" and self.current.text == ",":
            self.advance()
            values.append(self.parse_literal(field))
        self.expect_punct(")")
        return values

    def parse_literal(self, field: _Field) -> Any:
        token = self.current
        if token.kind == "number":
            self.advance()
            number = float(token.text)
            if field.family == "metric":
                return number
            if field.family == "attribute" and _ATTRIBUTES[field.key][1] == "time":
                return int(number)
            return token.text  # params and tags are text: compare with the number as written
        if token.kind == "string":
            self.advance()
            text = re.sub(r"\\(.)", r"\1", token.text[1:-1])
            if field.family == "metric":
                raise FilterSyntaxError(
                    f"Metric {field.key!r} is compared with the text {token.text} at position "
                    f"{token.position}: metrics compare with numbers, e.g. metrics.{field.key} > 0.9.",
                    expression=self.expression,
                    position=token.position,
                )
            if field.family == "attribute" and _ATTRIBUTES[field.key][1] == "time":
                return _parse_time(text, token, self.expression)
            if field.family == "attribute" and field.key == "status":
                return text.lower()
            return text
        raise self.error("a number or a quoted text")


def _parse_time(text: str, token: _Token, expression: str) -> int:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FilterSyntaxError(
            f"The time {text!r} at position {token.position} is not ISO-8601 (e.g. '2026-11-27' or "
            "'2026-11-27T14:30:00+00:00') nor a number of milliseconds since the epoch.",
            expression=expression,
            position=token.position,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


_COMPARATORS: dict[str, Callable[[Any, Any], Any]] = {
    "=": lambda column, value: column == value,
    "!=": lambda column, value: column != value,
    "<": lambda column, value: column < value,
    "<=": lambda column, value: column <= value,
    ">": lambda column, value: column > value,
    ">=": lambda column, value: column >= value,
    "like": lambda column, value: column.like(value),
    "ilike": lambda column, value: column.ilike(value),
    "not like": lambda column, value: not_(column.like(value)),
    "in": lambda column, value: column.in_(value),
    "not in": lambda column, value: column.not_in(value),
}
_TEXT_ONLY = {"like", "ilike", "not like"}
_ORDERING = {"<", "<=", ">", ">="}


def _keyed_table(family: str) -> Any:
    return {"metric": latest_metrics, "param": params, "tag": run_tags}[family]


def _presence(field: _Field) -> ColumnElement[bool]:
    if field.family == "attribute":
        column = _ATTRIBUTES[field.key][0]
        return column.is_not(None)  # type: ignore[no-any-return]
    table = _keyed_table(field.family)
    return exists().where(table.c.run_id == runs.c.id, table.c.key == field.key)


def _check_operator(field: _Field, operator: str, token: _Token, expression: str) -> None:
    if field.family == "metric" and operator in _TEXT_ONLY:
        raise FilterSyntaxError(
            f"'{operator}' at position {token.position} compares text, but metric {field.key!r} is a "
            "number: use =, !=, <, <=, >, >=, in.",
            expression=expression,
            position=token.position,
        )
    if field.family in {"param", "tag"} and operator in _ORDERING:
        family = "Parameters" if field.family == "param" else "Tags"
        raise FilterSyntaxError(
            f"'{operator}' at position {token.position} orders numbers, but {family.lower()} are text: "
            f"use =, !=, like, ilike, in on {field.family}s.{field.key}.",
            expression=expression,
            position=token.position,
        )
    if field.family == "attribute" and _ATTRIBUTES[field.key][1] == "time" and operator in _TEXT_ONLY:
        raise FilterSyntaxError(
            f"'{operator}' at position {token.position} compares text, but {field.key} is a time.",
            expression=expression,
            position=token.position,
        )


def _compare(field: _Field, operator: str, value: Any, token: _Token, expression: str) -> ColumnElement[bool]:
    _check_operator(field, operator, token, expression)
    comparator = _COMPARATORS[operator]
    if field.family == "attribute":
        column = _ATTRIBUTES[field.key][0]
        condition: ColumnElement[bool] = comparator(column, value)
        return condition
    table = _keyed_table(field.family)
    return exists().where(
        table.c.run_id == runs.c.id, table.c.key == field.key, comparator(table.c.value, value)
    )


def compile_filter(expression: str | None) -> ColumnElement[bool]:
    """Parse a filter into a condition on the ``runs`` table. Empty or ``None`` keeps every run.

    Raises :class:`~loopwright.errors.FilterSyntaxError` pointing at the offending token.
    """
    if expression is None or not expression.strip():
        return true()
    return _Parser(expression).parse()


def parse_order_by(items: list[str] | tuple[str, ...] | None) -> list[OrderKey]:
    """Parse order-by items such as ``"metrics.accuracy desc"`` or ``"start_time"``."""
    keys: list[OrderKey] = []
    for item in items or ():
        tokens = _tokenize(item)
        if tokens[0].kind != "field":
            raise FilterSyntaxError(
                f"Order-by item {item!r} must start with a field such as metrics.accuracy.",
                expression=item,
                position=tokens[0].position,
            )
        field = _field(tokens[0], item)
        descending = False
        rest = tokens[1:]
        if rest[0].kind == "keyword" and rest[0].value in {"asc", "desc"}:
            descending = rest[0].value == "desc"
            rest = rest[1:]
        if rest[0].kind != "end":
            raise FilterSyntaxError(
                f"Unexpected {rest[0].text!r} at position {rest[0].position} in order-by item {item!r}: "
                "expected 'asc', 'desc' or nothing.",
                expression=item,
                position=rest[0].position,
            )
        keys.append(OrderKey(field.family, field.key, descending))
    return keys


def order_clauses(keys: list[OrderKey], statement: Any) -> tuple[Any, list[UnaryExpression[Any]]]:
    """Join what ordering needs onto ``statement`` and return it with the ORDER BY clauses.

    Runs are always finally ordered by start time (newest first) and id, so pages are stable.
    """
    clauses: list[UnaryExpression[Any]] = []
    for position, key in enumerate(keys):
        if key.family == "attribute":
            column = _ATTRIBUTES[key.key][0]
        else:
            table = _keyed_table(key.family).alias(f"order_{position}")
            statement = statement.outerjoin(table, (table.c.run_id == runs.c.id) & (table.c.key == key.key))
            column = table.c.value
        clauses.append(column.desc().nulls_last() if key.descending else column.asc().nulls_last())
    clauses.extend([runs.c.start_ms.desc(), runs.c.id.asc()])
    return statement, clauses
