"""GitHub expression semantics, checked against the documented coercion rules."""

from __future__ import annotations

import pytest

from toolkit.ci.expressions import ExpressionError, Scope, condition, evaluate, render, render_str

CTX = {
    "github": {"event_name": "push", "ref": "refs/tags/model@v1.2.0", "ref_name": "model@v1.2.0"},
    "inputs": {"spec": "conf/experiment.yaml", "dry": False, "n": 3.0},
    "env": {"STAGE": "train"},
    "steps": {"plan": {"outputs": {"runner": '["self-hosted","gpu"]', "n": "2"}, "outcome": "success"}},
    "needs": {"plan": {"outputs": {"runner": '["self-hosted","linux"]'}, "result": "success"}},
    "secrets": {"TOKEN": "s3cr3t"},
}


def ev(src: str, status: str = "success"):
    return evaluate(src, Scope(CTX, job_status=status))


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("github.event_name == 'PUSH'", True),  # strings compare case-insensitively
        ("github.event_name != 'pull_request'", True),
        ("startsWith(github.ref, 'refs/tags/')", True),
        ("contains(github.ref_name, '@v')", True),
        ("contains(fromJSON(steps.plan.outputs.runner), 'gpu')", True),
        ("contains(fromJSON(needs.plan.outputs.runner), 'gpu')", False),
        ("fromJSON(steps.plan.outputs.n) == 2", True),
        ("steps.plan.outputs.n == 2", True),  # loose equality coerces the string to a number
        ("'' == 0", True),
        ("null == 0", True),
        ("true == 1", True),
        ("'abc' == 0", False),
        ("1 < 2 && 2 <= 2", True),
        ("!inputs.dry", True),
        ("inputs.missing", None),
        ("inputs.dry || 'fallback'", "fallback"),  # || returns an operand, not a boolean
        ("env.STAGE && 'yes'", "yes"),
        ("format('{0}@{1}', 'm', 'v1')", "m@v1"),
        ("format('{{literal}} {0}', 1)", "{literal} 1"),
        ("0xff == 255", True),
        ("'It''s' == 'it''S'", True),
        ("github['event_name']", "push"),
        ("steps.plan.outcome", "success"),
        ("toJSON(fromJSON('[1,\"a\"]'))", '[\n  1,\n  "a"\n]'),
        ("endsWith('model@v1', '@V1')", True),
        ("join(fromJSON('[\"a\",\"b\"]'), '+')", "a+b"),
        ("(1 == 1) && !(2 == 3)", True),
        ("secrets.TOKEN", "s3cr3t"),
    ],
)
def test_evaluate(src: str, expected: object) -> None:
    assert ev(src) == expected


def test_status_functions() -> None:
    assert ev("success()") is True
    assert ev("failure()", status="failure") is True
    assert ev("always()", status="failure") is True
    assert ev("success()", status="failure") is False


def test_if_implies_success_unless_a_status_function_is_used() -> None:
    failed = Scope(CTX, job_status="failure")
    assert condition("github.event_name == 'push'", failed) is False
    assert condition("${{ always() && github.event_name == 'push' }}", failed) is True
    assert condition("failure()", failed) is True
    assert condition(None, failed) is False
    assert condition("github.event_name == 'push'", Scope(CTX)) is True


def test_render_keeps_type_of_whole_expression_and_interpolates_strings() -> None:
    scope = Scope(CTX)
    assert render("${{ fromJSON(steps.plan.outputs.runner) }}", scope) == ["self-hosted", "gpu"]
    assert render_str("tag=${{ github.ref_name }} n=${{ inputs.n }} dry=${{ inputs.dry }}", scope) == (
        "tag=model@v1.2.0 n=3 dry=false"
    )
    assert render({"a": ["${{ env.STAGE }}"]}, scope) == {"a": ["train"]}


@pytest.mark.parametrize(
    ("src", "message"),
    [
        ("github.event_name ==", "unexpected"),
        ("unknown.thing", "unknown context 'unknown'"),
        ('"double"', "unexpected character"),
        ("nosuch(1)", "unknown function nosuch()"),
        ("fromJSON('{bad')", "not JSON"),
        ("(1 == 1", "expected ')'"),
    ],
)
def test_errors_are_one_clear_line(src: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        ev(src)
    assert "\n" not in str(info.value)
