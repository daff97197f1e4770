"""The search language: tokenizer and recursive-descent parser to a small AST.

Grammar (AND binds tighter than OR; juxtaposition is AND)::

    query  := or
    or     := and ("OR" and)*
    and    := unary (["AND"] unary)*
    unary  := ("NOT" | "-") unary | atom
    atom   := "(" or ")" | FIELD OP VALUE | WORD | "PHRASE"

FIELD is a name followed by one of ``: = > < >= <=``; VALUE runs to the next
blank or ``)`` unless quoted. Field names are checked later, by the compiler,
which knows the tag keys in the catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

from toolkit.errors import QueryError

OPS = (">=", "<=", ":", "=", ">", "<")


@dataclass(frozen=True)
class Field:
    name: str
    op: str
    value: str


@dataclass(frozen=True)
class Text:
    text: str
    phrase: bool = False


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Field | Text | Not | And | Or


@dataclass(frozen=True)
class Token:
    kind: str  # LPAREN RPAREN NOT AND OR NEG FIELD WORD PHRASE
    text: str
    pos: int
    field: Field | None = None


def _read_quoted(q: str, i: int) -> tuple[str, int]:
    """`q[i]` is a double quote; returns the unescaped content and the index after the closing quote."""
    out: list[str] = []
    j = i + 1
    while j < len(q):
        c = q[j]
        if c == "\\" and j + 1 < len(q):
            out.append(q[j + 1])
            j += 2
            continue
        if c == '"':
            return "".join(out), j + 1
        out.append(c)
        j += 1
    raise QueryError(f"unclosed quote at position {i + 1}: {q[i:]}")


def _is_name_char(c: str) -> bool:
    return c.isalnum() or c in "_.-"


def tokenize(q: str) -> list[Token]:
    tokens: list[Token] = []
    i = 0
    while i < len(q):
        c = q[i]
        if c.isspace():
            i += 1
        elif c in "()":
            tokens.append(Token("LPAREN" if c == "(" else "RPAREN", c, i))
            i += 1
        elif c == '"':
            text, i2 = _read_quoted(q, i)
            tokens.append(Token("PHRASE", text, i))
            i = i2
        elif c == "-" and i + 1 < len(q) and not q[i + 1].isspace() and (not tokens or _boundary(q, i)):
            tokens.append(Token("NEG", c, i))
            i += 1
        else:
            tok, i = _read_word(q, i)
            tokens.append(tok)
    return tokens


def _boundary(q: str, i: int) -> bool:
    return i == 0 or q[i - 1].isspace() or q[i - 1] == "("


def _read_word(q: str, start: int) -> tuple[Token, int]:
    # A field name, then an operator, then a (maybe quoted) value; otherwise a bare word.
    j = start
    if q[j].isalpha() or q[j] == "_":
        while j < len(q) and _is_name_char(q[j]):
            j += 1
        name = q[start:j]
        op = next((o for o in OPS if q.startswith(o, j)), None)
        if op is not None:
            # Quotes may open anywhere in the value: vehicle:"odaiba 3", tag:weather="light rain".
            end = j + len(op)
            parts: list[str] = []
            while end < len(q) and not q[end].isspace() and q[end] != ")":
                if q[end] == '"':
                    quoted, end = _read_quoted(q, end)
                    parts.append(quoted)
                else:
                    parts.append(q[end])
                    end += 1
            value = "".join(parts)
            if not value:
                raise QueryError(f"{name}{op} needs a value (position {start + 1})")
            return Token("FIELD", q[start:end], start, Field(name.lower(), op, value)), end
    end = start
    while end < len(q) and not q[end].isspace() and q[end] not in '()"':
        end += 1
    word = q[start:end]
    kind = word if word in {"AND", "OR", "NOT"} else "WORD"
    return Token(kind, word, start), end


class _Parser:
    def __init__(self, tokens: list[Token], source: str) -> None:
        self.tokens = tokens
        self.i = 0
        self.source = source

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> Node:
        node = self.parse_or()
        extra = self.peek()
        if extra is not None:
            raise QueryError(f"unexpected {extra.text!r} at position {extra.pos + 1}")
        return node

    def parse_or(self) -> Node:
        items = [self.parse_and()]
        while (tok := self.peek()) is not None and tok.kind == "OR":
            self.take()
            items.append(self.parse_and())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def parse_and(self) -> Node:
        items = [self.parse_unary()]
        while (tok := self.peek()) is not None and tok.kind not in {"OR", "RPAREN"}:
            if tok.kind == "AND":
                self.take()
            items.append(self.parse_unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def parse_unary(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise QueryError("query ends where a term was expected")
        if tok.kind in {"NOT", "NEG"}:
            self.take()
            return Not(self.parse_unary())
        return self.parse_atom()

    def parse_atom(self) -> Node:
        tok = self.take()
        if tok.kind == "LPAREN":
            if (nxt := self.peek()) is not None and nxt.kind == "RPAREN":
                raise QueryError(f"empty parentheses at position {tok.pos + 1}")
            node = self.parse_or()
            close = self.peek()
            if close is None or close.kind != "RPAREN":
                raise QueryError(f"missing ')' for '(' at position {tok.pos + 1}")
            self.take()
            return node
        if tok.kind == "FIELD" and tok.field is not None:
            return tok.field
        if tok.kind == "WORD":
            return Text(tok.text)
        if tok.kind == "PHRASE":
            if not tok.text.strip():
                raise QueryError(f"empty phrase at position {tok.pos + 1}")
            return Text(tok.text, phrase=True)
        raise QueryError(f"unexpected {tok.text!r} at position {tok.pos + 1}")


def parse(query: str) -> Node | None:
    """The AST of `query`; None for an empty query (which matches every bag)."""
    tokens = tokenize(query)
    if not tokens:
        return None
    return _Parser(tokens, query).parse()
