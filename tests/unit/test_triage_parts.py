"""The pure parts of triage: the classifier's transcript, verdict parsing, heuristics."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.config.triage import TriageHeuristics
from gateway.routing.triage.heuristics import Rules, judge, looks_like_code
from gateway.routing.triage.prompt import classifier_body, transcript
from gateway.routing.triage.verdict import answer_text, parse_verdict


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ('{"tier": "complex"}', ("complex", "classifier")),
        ('{"tier":"simple"}', ("simple", "classifier")),
        ('{"tier": "medium", "why": "short"}', ("medium", "classifier")),
        ('{"tier": " Expert "}', ("expert", "classifier")),
        ('```json\n{"tier": "simple"}\n```', ("simple", "regex")),
        ("I would call this MEDIUM difficulty.", ("medium", "regex")),
        ('{"tier": "hard"} but really complex', ("complex", "regex")),
        ("simpler than it looks", None),  # a tier word must stand alone
        ('{"tier": 3}', None),
        ("", None),
    ],
)
def test_verdicts_json_first_then_the_first_tier_word(
    answer: str, expected: tuple[str, str] | None
) -> None:
    assert parse_verdict(answer) == expected


def test_answer_text_reads_the_first_choice_only_when_it_is_text() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": "medium"}}]}
    assert answer_text(body) == "medium"
    assert answer_text({"choices": [{"message": {"content": None}}]}) is None
    assert answer_text({"choices": []}) is None
    assert answer_text("not a completion") is None
    assert answer_text(None) is None


def test_transcript_keeps_the_system_message_and_the_latest_turns() -> None:
    messages: list[Any] = [
        {"role": "system", "content": "S" * 4000},
        {"role": "user", "content": "old question " * 100},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "search"}}]},
        {"role": "user", "content": [{"type": "text", "text": "and this?"}, {"type": "image_url"}]},
        "garbage",
    ]
    text = transcript(messages, max_tokens=100)  # 400 characters
    assert len(text) == 400
    system, older, call, latest = text.split("\n", 3)
    assert system == "system: " + "S" * 88 + " […]"  # a quarter of the budget
    assert older.startswith("user: old question old") and older.endswith(" […]")
    assert call == "assistant: [tool calls: search]"
    assert latest == "user: and this?\n[image]"


def test_transcript_cuts_a_huge_last_turn_to_the_budget() -> None:
    text = transcript([{"role": "user", "content": "x" * 100_000}], max_tokens=50)
    assert len(text) == 200 and text.endswith(" […]")


def test_classifier_body_asks_for_json_only_where_the_kind_takes_it() -> None:
    body = classifier_body("PROMPT", "user: hi", json_mode=True)
    assert body["messages"] == [
        {"role": "system", "content": "PROMPT"},
        {"role": "user", "content": "user: hi"},
    ]
    assert body["response_format"] == {"type": "json_object"}
    assert "response_format" not in classifier_body("PROMPT", "user: hi", json_mode=False)


RULES = Rules.of(TriageHeuristics())


def judged(
    content: Any, estimate: int = 10, rules: TriageHeuristics = RULES, **payload: Any
) -> Any:
    body = {"messages": [{"role": "user", "content": content}], **payload}
    return judge(body, estimate, rules)


@pytest.mark.parametrize(
    ("content", "payload", "estimate", "verdict", "floor"),
    [
        ("What's the capital of France?", {}, 10, "simple", None),
        ("x" * 65, {}, 20, None, None),
        ("fix: for (;;) {", {}, 10, None, None),
        ("```print(1)```", {}, 10, None, None),
        ("hi", {"tools": [{"type": "function"}]}, 10, None, "medium"),
        ([{"type": "image_url", "image_url": {"url": "x"}}], {}, 10, None, "medium"),
        ("long " * 10, {}, 9000, None, "medium"),
    ],
    ids=["short", "long", "code", "fence", "tools", "image", "large"],
)
def test_heuristic_rules(
    content: Any, payload: dict[str, Any], estimate: int, verdict: str | None, floor: str | None
) -> None:
    assert judged(content, estimate, **payload) == (verdict, floor)


def test_each_rule_can_be_turned_off() -> None:
    rules = Rules.of(TriageHeuristics(simple_max_chars=0, floor_tier=None))
    assert judged("hi", rules=rules) == (None, None)
    assert judged("hi", rules=rules, tools=[{"type": "function"}]) == (None, None)


def test_tool_results_in_the_conversation_count_as_tools() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "tool", "tool_call_id": "1", "content": "42"},
        ]
    }
    assert judge(body, 5, RULES) == (None, "medium")


def test_only_the_turns_count_and_odd_values_are_no_error() -> None:
    system = {"role": "system", "content": "You are a careful assistant. " * 20}
    body = {"messages": [system, {"role": "user", "content": "hi"}]}
    assert judge(body, 200, RULES) == ("simple", None)
    text_parts = [{"type": "text", "text": "hi"}, {"type": ["x"]}, "junk"]
    odd: dict[str, Any] = {"messages": [{"role": {"a": 1}, "content": text_parts}]}
    assert judge(odd, 5, RULES) == ("simple", None)
    assert transcript(odd["messages"], 100) == "user: hi"  # a role that is no text reads as user


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Say hello.", False),
        ("def f(): pass", True),
        ("  import os", True),
        ("Tell me\n   class Foo:", True),
        ("\n\nfrom x import y", True),
        ("a list; of things", False),
        ("x = 1;", True),
        ("if (a) {\n  b()", True),
        ("}  ", True),
        ("use ``` fences", True),
        ("let me know", True),  # a keyword at a line's start reads as code
        ("please let me know", False),
        ("definitely", False),  # a keyword only as a whole word
        ("SELECT * FROM t", True),
    ],
)
def test_what_reads_as_code(text: str, code: bool) -> None:
    assert looks_like_code(text) is code
