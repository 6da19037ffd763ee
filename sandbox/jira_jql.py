"""The few JQL shapes the Jira stand-in understands, and nothing more.

Real JQL is a large language; a stand-in that half-understands it would let a typo'd query pass
silently here and fail against a real Jira. So the grammar is deliberately tiny and anything
outside it is refused with a 400 that names what is supported:

    query   := [clause ("AND" clause)*] ["ORDER BY" sort ("," sort)*]
    clause  := field "=" value
    field   := "project" | "labels" | "key" | "issuekey" | "parent" | issue.property[<key>].<path>
    value   := "double quoted" | 'single quoted' | bare-word
    sort    := ("created" | "updated" | "key") ["ASC" | "DESC"]

These cover the queries `integrations.jira.JiraGateway` sends, e.g.
`issue.property[incident-desk].workflowId = "incident-x"`, `project = SEC AND labels = "l"` and
`key = SEC-1`, each optionally followed by `ORDER BY created`. Keywords are case-insensitive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SUPPORTED = (
    'project = KEY, labels = "label", key = KEY-1, parent = KEY-1, '
    'issue.property[prop].path = "value", joined with AND, optional ORDER BY created|updated|key'
)

_TOKEN = re.compile(
    r"""
    \s*(?:
        (?P<prop>issue\.property\[(?P<pkey>[^\]\s]+)\](?P<ppath>(?:\.[A-Za-z0-9_\-]+)+))
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|!~|<=|>=|=|~|<|>|\(|\)|,)
      | (?P<word>[A-Za-z0-9_\-.*]+)
    )
    """,
    re.VERBOSE,
)

_FIELDS = {
    "project": "project",
    "labels": "labels",
    "key": "key",
    "issuekey": "key",
    "parent": "parent",  # a sub-task's parent, by key (the review sub-task's look-up)
}
_SORT_FIELDS = {"created", "updated", "key"}


class JqlError(ValueError):
    """A query the stand-in does not accept; the message is shown to the client."""


@dataclass(frozen=True)
class Clause:
    field: str  # "project" | "labels" | "key" | "parent" | "property"
    value: str
    property_key: str | None = None
    property_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    clauses: tuple[Clause, ...]
    order_by: tuple[tuple[str, bool], ...]  # (field, descending)


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    value: str


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def _tokenize(jql: str) -> list[_Tok]:
    tokens: list[_Tok] = []
    pos = 0
    while pos < len(jql):
        if jql[pos:].strip() == "":
            break
        match = _TOKEN.match(jql, pos)
        if match is None or match.end() == pos:
            raise JqlError(f"Error in the JQL Query: unexpected character at position {pos}.")
        pos = match.end()
        if match["prop"]:
            path = match["ppath"].lstrip(".")
            tokens.append(_Tok("prop", match["prop"], f"{match['pkey']}\x00{path}"))
        elif match["string"]:
            tokens.append(_Tok("string", match["string"], _unquote(match["string"])))
        elif match["op"]:
            tokens.append(_Tok("op", match["op"], match["op"]))
        else:
            tokens.append(_Tok("word", match["word"], match["word"]))
    return tokens


def _unsupported(detail: str) -> JqlError:
    return JqlError(
        f"The Jira sandbox does not support this JQL ({detail}). Supported: {SUPPORTED}."
    )


def parse(jql: str) -> Query:
    tokens = _tokenize(jql)
    pos = 0

    def peek_word(*words: str) -> bool:
        return (
            pos < len(tokens) and tokens[pos].kind == "word" and tokens[pos].text.upper() in words
        )

    clauses: list[Clause] = []
    order_by: list[tuple[str, bool]] = []
    while pos < len(tokens) and not peek_word("ORDER"):
        if clauses:
            if not peek_word("AND"):
                raise _unsupported(f"unexpected {tokens[pos].text!r}; only AND joins clauses")
            pos += 1
        if pos + 3 > len(tokens):
            raise JqlError("Error in the JQL Query: the query ends early; expected field = value.")
        field_tok, op_tok, value_tok = tokens[pos], tokens[pos + 1], tokens[pos + 2]
        pos += 3
        if op_tok.text != "=":
            raise _unsupported(f"operator {op_tok.text!r}")
        if value_tok.kind not in ("string", "word"):
            raise _unsupported(f"value {value_tok.text!r}")
        if field_tok.kind == "prop":
            prop_key, path = field_tok.value.split("\x00")
            clauses.append(Clause("property", value_tok.value, prop_key, tuple(path.split("."))))
        elif field_tok.kind == "word" and field_tok.text.lower() in _FIELDS:
            clauses.append(Clause(_FIELDS[field_tok.text.lower()], value_tok.value))
        else:
            raise _unsupported(f"field {field_tok.text!r}")
    if pos < len(tokens):
        pos += 1  # ORDER
        if not peek_word("BY"):
            raise JqlError("Error in the JQL Query: expected BY after ORDER.")
        pos += 1
        while True:
            if pos >= len(tokens) or tokens[pos].kind != "word":
                raise JqlError("Error in the JQL Query: expected a field after ORDER BY.")
            sort_field = tokens[pos].text.lower()
            if sort_field not in _SORT_FIELDS:
                raise _unsupported(f"ORDER BY {tokens[pos].text!r}")
            pos += 1
            descending = False
            if peek_word("ASC", "DESC"):
                descending = tokens[pos].text.upper() == "DESC"
                pos += 1
            order_by.append((sort_field, descending))
            if pos < len(tokens) and tokens[pos].text == ",":
                pos += 1
                continue
            break
        if pos < len(tokens):
            raise _unsupported(f"unexpected {tokens[pos].text!r} after ORDER BY")
    return Query(tuple(clauses), tuple(order_by))
