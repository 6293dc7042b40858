"""Answer-type cues: which kind a question asks for, and which sentences hold one."""

from __future__ import annotations

import pytest

from qa.cues import cue_scores, expected, rules_for
from qa.errors import InputError

EN = rules_for("en")


@pytest.mark.parametrize(
    ("question", "kinds"),
    [
        ("When did the first negotiations start?", {"time"}),
        ("At what time did the talks begin?", {"time"}),
        ("In what year was the treaty signed?", {"time"}),
        ("How many civilians had been killed?", {"number"}),
        ("How much did the grain cost?", {"number"}),
        ("What percentage of voters agreed?", {"number"}),
        ("Who led the Russian delegation?", {"person"}),
        ("What is Lavrov's title?", {"person"}),
        ("What is Podolyak's role?", {"person"}),
        ("What is the name of the river?", {"person"}),
        ("Which Ukrainian official spoke first?", {"person"}),
        ("Where was the second round of talks held?", {"place"}),
        ("In which city did they meet?", {"place"}),
        ("Who met Macron, and when?", {"person", "time"}),
        # A wh-word inside a clause does not say what is asked.
        ("What did he say when he arrived?", set()),
        ("Why did the talks fail?", {"reason"}),
        ("How did the talks end?", set()),
        ("What did the man say?", set()),
    ],
)
def test_the_question_says_what_kind_of_answer_it_wants(question: str, kinds: set[str]) -> None:
    assert expected(question, EN) == kinds


@pytest.mark.parametrize(
    ("question", "holds", "lacks"),
    [
        (
            "When did the negotiations start?",
            "They began just after 1 p.m. Ukraine time.",
            "The negotiations started after the delegations arrived.",
        ),
        (
            "When was the treaty signed?",
            "It was signed on Feb. 21 in the capital.",
            "The treaty was signed by both leaders.",
        ),
        (
            "How many troops are in Belarus?",
            "Officials estimate that 30,000 soldiers remain there.",
            "Troops are in Belarus after the exercises.",
        ),
        (
            "How many people fled?",
            "More than half a million have left so far.",
            "People fled the fighting in the east.",
        ),
        (
            "What is Lavrov's title?",
            "Russian Foreign Minister Sergei Lavrov spoke to reporters.",
            "Sergei Lavrov spoke to reporters.",
        ),
        (
            "Who met the delegation?",
            "The delegation was received by Olaf Scholz in the morning.",
            "The delegation was met at the airport.",
        ),
        (
            "Why did Ukraine refuse?",
            "Officials said Belarus was too close to Moscow to be neutral.",
            "Ukraine refused the offer on Sunday.",
        ),
        (
            "Where were the talks held?",
            "The talks took place in Gomel, close to the frontier.",
            "The talks were held in March.",
        ),
    ],
)
def test_a_sentence_holding_the_kind_asked_for_gets_the_cue(
    question: str, holds: str, lacks: str
) -> None:
    assert cue_scores(question, [holds, lacks], EN) == [1.0, 0.0]


def test_what_the_question_already_says_is_no_answer() -> None:
    # Minsk is named in the question, so a sentence naming only Minsk does not answer where.
    question = "Where in Minsk did they meet?"
    assert cue_scores(question, ["They met in Minsk.", "They met at the Palace."], EN) == [0, 1]
    # Nor does the question's own number answer how many.
    assert cue_scores("How many of the 40 ships sailed?", ["All 40 ships sailed."], EN) == [0.0]


def test_a_year_is_a_time_and_no_count() -> None:
    sentences = ["The army was formed in 2014.", "It has 2,014 soldiers.", "It grew in the 1990s."]
    assert cue_scores("How many soldiers does it have?", sentences, EN) == [0.0, 1.0, 0.0]
    assert cue_scores("When was the army formed?", sentences, EN) == [1.0, 0.0, 1.0]


def test_a_question_asking_no_kind_gives_no_cue() -> None:
    assert cue_scores("How did the talks end?", ["At 1 p.m. in Minsk, Lavrov left."], EN) == [0.0]


def test_a_language_without_rules_says_which_there_are() -> None:
    with pytest.raises(InputError, match="choose from en"):
        rules_for("xx")
