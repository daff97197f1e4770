"""GitHub Actions expressions: `${{ ... }}` parsing and evaluation.

No maintained Python library evaluates these (PyPI has tree-sitter grammars that
only parse, and `act`, which needs Docker), so this is a small Pratt parser over
the documented grammar: literals, property access and index, `!`, comparisons,
`&&`/`||` (which return an operand, as in GitHub), and the functions our
workflows use. Semantics follow GitHub's documented coercions: loose equality
converts mismatched types to numbers and strings compare case-insensitively.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toolkit.errors import WorkflowError

Value = Any  # None | bool | float | str | list | dict: JSON values


class ExpressionError(WorkflowError):
    """An expression does not parse or cannot be evaluated."""


# --- tokens ------------------------------------------------------------------
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<num>-?(?:0x[0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))
    | (?P<str>'(?:[^']|'')*')
    | (?P<op>==|!=|<=|>=|&&|\|\||[!<>()\[\].,*])
    | (?P<ident>[A-Za-z_][A-Za-z0-9_-]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | op | ident | end
    text: str


def _tokenize(src: str) -> list[_Tok]:
    toks: list[_Tok] = []
    pos = 0
    src = src.rstrip()
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m or m.end() == pos:
            raise ExpressionError(f"unexpected character {src[pos:].strip()[:1]!r} in expression {src.strip()!r}")
        kind = m.lastgroup or ""
        text = m.group(kind)
        # "-1" is a number only where an operand is expected; GitHub has no binary minus.
        toks.append(_Tok(kind, text))
        pos = m.end()
    toks.append(_Tok("end", ""))
    return toks


# --- AST -----------------------------------------------------------------------
@dataclass(frozen=True)
class Literal:
    value: Value


@dataclass(frozen=True)
class Context:
    name: str


@dataclass(frozen=True)
class Index:
    target: Node
    key: Node | None  # None means the `.*` / `[*]` filter


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node = Literal | Context | Index | Not | Binary | Call

_PRECEDENCE = {"||": 1, "&&": 2, "==": 3, "!=": 3, "<": 4, "<=": 4, ">": 4, ">=": 4}


class _Parser:
    def __init__(self, src: str) -> None:
        self.src = src.strip()
        self.toks = _tokenize(src)
        self.i = 0

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def expect(self, text: str) -> None:
        tok = self.take()
        if tok.text != text:
            raise ExpressionError(f"expected {text!r} but found {tok.text or 'end'!r} in expression {self.src!r}")

    def parse(self) -> Node:
        node = self.expr(0)
        if self.peek().kind != "end":
            raise ExpressionError(f"unexpected {self.peek().text!r} in expression {self.src!r}")
        return node

    def expr(self, min_prec: int) -> Node:
        left = self.unary()
        while True:
            tok = self.peek()
            prec = _PRECEDENCE.get(tok.text) if tok.kind == "op" else None
            if prec is None or prec < min_prec:
                return left
            self.take()
            right = self.expr(prec + 1)
            left = Binary(tok.text, left, right)

    def unary(self) -> Node:
        if self.peek().text == "!" and self.peek().kind == "op":
            self.take()
            return Not(self.unary())
        return self.postfix(self.primary())

    def primary(self) -> Node:
        tok = self.take()
        if tok.kind == "num":
            return Literal(_parse_number(tok.text))
        if tok.kind == "str":
            return Literal(tok.text[1:-1].replace("''", "'"))
        if tok.kind == "op" and tok.text == "(":
            node = self.expr(0)
            self.expect(")")
            return node
        if tok.kind == "ident":
            low = tok.text.lower()
            if low in {"true", "false"}:
                return Literal(low == "true")
            if low == "null":
                return Literal(None)
            if low in {"nan", "infinity"}:
                return Literal(math.nan if low == "nan" else math.inf)
            if self.peek().text == "(":
                self.take()
                args: list[Node] = []
                if self.peek().text != ")":
                    args.append(self.expr(0))
                    while self.peek().text == ",":
                        self.take()
                        args.append(self.expr(0))
                self.expect(")")
                return Call(low, tuple(args))
            return Context(low)
        raise ExpressionError(f"unexpected {tok.text or 'end'!r} in expression {self.src!r}")

    def postfix(self, node: Node) -> Node:
        while True:
            tok = self.peek()
            if tok.text == "." and tok.kind == "op":
                self.take()
                name = self.take()
                if name.text == "*":
                    node = Index(node, None)
                elif name.kind == "ident":
                    node = Index(node, Literal(name.text))
                else:
                    raise ExpressionError(f"expected a property name after '.' in expression {self.src!r}")
            elif tok.text == "[" and tok.kind == "op":
                self.take()
                if self.peek().text == "*":
                    self.take()
                    node = Index(node, None)
                else:
                    node = Index(node, self.expr(0))
                self.expect("]")
            else:
                return node


def _parse_number(text: str) -> float:
    t = text.strip()
    sign = -1.0 if t.startswith("-") else 1.0
    t = t.lstrip("+-")
    try:
        if t.lower().startswith("0x"):
            return sign * int(t, 16)
        if t.lower().startswith("0o"):
            return sign * int(t, 8)
        return sign * float(t)
    except ValueError:
        return math.nan


def parse(src: str) -> Node:
    return _Parser(src).parse()


# --- coercion ------------------------------------------------------------------
def truthy(v: Value) -> bool:
    if v is None or v is False:
        return False
    if isinstance(v, bool):
        return True
    if isinstance(v, int | float):
        return not (v == 0 or math.isnan(v))
    if isinstance(v, str):
        return v != ""
    return True


def to_number(v: Value) -> float:
    if v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        if s == "":
            return 0.0
        if re.fullmatch(r"[+-]?(0x[0-9a-fA-F]+|0o[0-7]+|(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)", s):
            return _parse_number(s)
        if s.lstrip("+-") == "Infinity":
            return -math.inf if s.startswith("-") else math.inf
        return math.nan
    return math.nan


def to_str(v: Value) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float | int):
        if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(v) if isinstance(v, float) else str(v)
    if isinstance(v, str):
        return v
    # GitHub renders containers as these words in string context.
    return "Array" if isinstance(v, list) else "Object"


def _kind(v: Value) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    if isinstance(v, str):
        return "string"
    return "array" if isinstance(v, list) else "object"


def _equal(a: Value, b: Value) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka != kb:
        if ka in {"array", "object"} or kb in {"array", "object"}:
            return False
        return to_number(a) == to_number(b)
    if ka == "string":
        return bool(a.casefold() == b.casefold())
    if ka in {"array", "object"}:
        return a is b
    if ka == "number":
        return bool(float(a) == float(b))
    return bool(a == b)


def _compare(op: str, a: Value, b: Value) -> bool:
    ka, kb = _kind(a), _kind(b)
    if ka in {"array", "object"} or kb in {"array", "object"}:
        return False
    left: Any
    right: Any
    if ka == kb == "string":
        left, right = a.casefold(), b.casefold()
    else:
        left, right = to_number(a), to_number(b)
        if math.isnan(left) or math.isnan(right):
            return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


# --- functions -----------------------------------------------------------------
def _contains(search: Value, item: Value) -> bool:
    if isinstance(search, list):
        return any(_equal(x, item) for x in search)
    return to_str(item).casefold() in to_str(search).casefold()


def _format(template: Value, *args: Value) -> str:
    fmt = to_str(template)
    out: list[str] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c == "{" and fmt.startswith("{{", i):
            out.append("{")
            i += 2
        elif c == "}" and fmt.startswith("}}", i):
            out.append("}")
            i += 2
        elif c == "{":
            end = fmt.find("}", i)
            idx = fmt[i + 1 : end] if end > 0 else ""
            if not idx.isdigit() or int(idx) >= len(args):
                raise ExpressionError(f"format(): bad placeholder in {fmt!r}")
            out.append(to_str(args[int(idx)]))
            i = end + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _from_json(v: Value) -> Value:
    try:
        return _normalize(json.loads(to_str(v)))
    except json.JSONDecodeError as exc:
        raise ExpressionError(f"fromJSON(): not JSON: {to_str(v)[:60]!r}") from exc


def _normalize(v: Any) -> Value:
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, list):
        return [_normalize(x) for x in v]
    return {str(k): _normalize(x) for k, x in v.items()}


def _json_plain(v: Value) -> Any:
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [_json_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _json_plain(x) for k, x in v.items()}
    return v


def to_json(v: Value) -> str:
    return json.dumps(_json_plain(v), indent=2)


_FUNCTIONS: dict[str, Callable[..., Value]] = {
    "contains": _contains,
    "startswith": lambda s, p: to_str(s).casefold().startswith(to_str(p).casefold()),
    "endswith": lambda s, p: to_str(s).casefold().endswith(to_str(p).casefold()),
    "format": _format,
    "join": lambda a, sep=",": to_str(sep).join(to_str(x) for x in a) if isinstance(a, list) else to_str(a),
    "tojson": to_json,
    "fromjson": _from_json,
}
_STATUS = {"success", "failure", "always", "cancelled"}


# --- evaluation ------------------------------------------------------------------
@dataclass
class Scope:
    """Contexts visible to an expression, and the job status for status functions."""

    contexts: Mapping[str, Value]
    job_status: str = "success"  # success | failure | cancelled
    hash_files: Callable[[list[str]], str] | None = None


def _index(target: Value, key: Value) -> Value:
    if isinstance(target, dict):
        k = to_str(key)
        if k in target:
            return target[k]
        low = k.casefold()
        # Property names are case-insensitive in GitHub's contexts.
        for name, val in target.items():
            if name.casefold() == low:
                return val
        return None
    if isinstance(target, list) and _kind(key) == "number":
        n = to_number(key)
        if n.is_integer() and 0 <= n < len(target):
            return target[int(n)]
    return None


def evaluate_node(node: Node, scope: Scope) -> Value:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Context):
        if node.name not in scope.contexts:
            raise ExpressionError(f"unknown context {node.name!r}")
        return scope.contexts[node.name]
    if isinstance(node, Index):
        target = evaluate_node(node.target, scope)
        if node.key is None:
            if isinstance(target, dict):
                return list(target.values())
            return list(target) if isinstance(target, list) else []
        if isinstance(node.target, Index) and node.target.key is None and isinstance(target, list):
            # `a.*.b` projects b out of every element.
            key = evaluate_node(node.key, scope)
            return [_index(x, key) for x in target]
        return _index(target, evaluate_node(node.key, scope))
    if isinstance(node, Not):
        return not truthy(evaluate_node(node.operand, scope))
    if isinstance(node, Binary):
        left = evaluate_node(node.left, scope)
        if node.op == "&&":
            return evaluate_node(node.right, scope) if truthy(left) else left
        if node.op == "||":
            return left if truthy(left) else evaluate_node(node.right, scope)
        right = evaluate_node(node.right, scope)
        if node.op == "==":
            return _equal(left, right)
        if node.op == "!=":
            return not _equal(left, right)
        return _compare(node.op, left, right)
    if isinstance(node, Call):
        if node.name in _STATUS:
            if node.args:
                raise ExpressionError(f"{node.name}() takes no arguments")
            if node.name == "always":
                return True
            return scope.job_status == node.name
        if node.name == "hashfiles":
            if scope.hash_files is None:
                raise ExpressionError("hashFiles() is not available here")
            return scope.hash_files([to_str(evaluate_node(a, scope)) for a in node.args])
        fn = _FUNCTIONS.get(node.name)
        if fn is None:
            raise ExpressionError(f"unknown function {node.name}()")
        try:
            return fn(*(evaluate_node(a, scope) for a in node.args))
        except TypeError as exc:
            raise ExpressionError(f"{node.name}(): wrong number of arguments") from exc
    raise ExpressionError(f"cannot evaluate {node!r}")  # pragma: no cover - exhaustive above


def uses_status_function(node: Node) -> bool:
    if isinstance(node, Call):
        return node.name in _STATUS or any(uses_status_function(a) for a in node.args)
    if isinstance(node, Not):
        return uses_status_function(node.operand)
    if isinstance(node, Binary):
        return uses_status_function(node.left) or uses_status_function(node.right)
    if isinstance(node, Index):
        return uses_status_function(node.target) or (node.key is not None and uses_status_function(node.key))
    return False


def evaluate(src: str, scope: Scope) -> Value:
    return evaluate_node(parse(src), scope)


_TEMPLATE = re.compile(r"\$\{\{(.*?)\}\}", re.DOTALL)


def _whole_expression(text: str) -> str | None:
    s = text.strip()
    m = _TEMPLATE.fullmatch(s)
    return m.group(1) if m else None


def render(value: Value, scope: Scope) -> Value:
    """Substitute `${{ }}` in a workflow value; a string that is one whole expression keeps its type."""
    if isinstance(value, str):
        whole = _whole_expression(value)
        if whole is not None:
            return evaluate(whole, scope)
        return _TEMPLATE.sub(lambda m: to_str(evaluate(m.group(1), scope)), value)
    if isinstance(value, list):
        return [render(v, scope) for v in value]
    if isinstance(value, dict):
        return {k: render(v, scope) for k, v in value.items()}
    return value


def render_str(value: Value, scope: Scope) -> str:
    """Render to the string a step sees (env values, `with:` inputs, `run:` scripts)."""
    if isinstance(value, str):
        return _TEMPLATE.sub(lambda m: to_str(evaluate(m.group(1), scope)), value)
    return to_str(value)


def condition(text: Value, scope: Scope) -> bool:
    """An `if:` value: bare or wrapped in `${{ }}`; without a status function it implies success()."""
    if text is None:
        return scope.job_status == "success"
    if isinstance(text, bool):
        return text and scope.job_status == "success"
    src = str(text)
    whole = _whole_expression(src)
    if whole is not None:
        src = whole
    elif "${{" in src:
        # Mixed text and expressions renders to a non-empty string, which is truthy.
        return truthy(render_str(src, scope))
    node = parse(src)
    if not uses_status_function(node):
        node = Binary("&&", Call("success", ()), node)
    return truthy(evaluate_node(node, scope))
