"""Metric functions against hand-computed values."""

import math

import pytest

from raft.eval import metrics


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Cat sat.", "cat sat"),
        ("  an   Apple,  a pear!  ", "apple pear"),
        ("theory of the atom", "theory of atom"),  # "the" inside a word stays
        ("A", ""),
        ("", ""),
        (None, ""),
        ("3.5 GHz", "35 ghz"),
    ],
)
def test_normalize_answer(text, expected):
    assert metrics.normalize_answer(text) == expected


def test_exact_match():
    assert metrics.exact_match("The red button.", "red button") == 1.0
    assert metrics.exact_match("red buttons", "red button") == 0.0
    assert metrics.exact_match(None, "red button") == 0.0
    assert metrics.exact_match("", "") == 1.0


def test_token_f1_hand_computed():
    # pred tokens: red, power, button; gold: power, button, on, top -> common 2, P=2/3, R=2/4, F1=4/7
    assert metrics.token_f1("the red power button", "power button on top") == pytest.approx(4 / 7)
    # repeated tokens count once per occurrence in both
    assert metrics.token_f1("on on off", "on off off") == pytest.approx(2 / 3)
    assert metrics.token_f1("completely different", "power button") == 0.0


def test_token_f1_empty_answers():
    assert metrics.token_f1("", "") == 1.0
    assert metrics.token_f1("the", "a") == 1.0  # both normalise to nothing
    assert metrics.token_f1("", "power button") == 0.0
    assert metrics.token_f1("power button", "") == 0.0
    assert metrics.token_f1(None, "power button") == 0.0


@pytest.mark.parametrize(
    ("answer", "label"),
    [
        ("Yes", "yes"),
        ("yes, the data show it.", "yes"),
        ("No.", "no"),
        ("Maybe", "maybe"),
        ("Perhaps yes", None),
    ],
)
def test_label_of(answer, label):
    assert metrics.label_of(answer) == label


def test_label_accuracy_and_label_set():
    assert metrics.label_accuracy("Yes, mitochondria do.", "yes") == 1.0
    assert metrics.label_accuracy("No", "yes") == 0.0
    assert metrics.label_accuracy(None, "no") == 0.0
    assert metrics.is_label_set(["yes", "No", "maybe"])
    assert not metrics.is_label_set(["yes", "red button"])
    assert not metrics.is_label_set([])


def test_retrieval_rank_recall_mrr():
    rank = metrics.oracle_rank(["a", "b", "c", "b"], {"b"})
    assert rank == 2
    assert metrics.recall_at_k(rank, 1) == 0.0
    assert metrics.recall_at_k(rank, 2) == 1.0
    assert metrics.reciprocal_rank(rank) == 0.5
    assert metrics.oracle_rank(["a", "c"], {"b"}) is None
    assert metrics.reciprocal_rank(None) == 0.0
    assert metrics.oracle_rank(["x", "p-2"], {"p-1", "p-2"}) == 2


def test_quote_validity_and_citation_precision():
    context = ["Hold the power button\nfor ten seconds.", "The warranty lasts two years."]
    quotes = ["Hold the power button for  ten seconds.", "The warranty lasts two years.", "made up"]
    assert metrics.quote_validity(quotes, context) == pytest.approx(2 / 3)
    assert metrics.citation_precision(quotes, [context[0]]) == pytest.approx(1 / 3)
    assert metrics.quote_validity([], context) is None
    assert metrics.quote_validity(["  "], context) is None
    assert metrics.citation_precision(quotes, []) is None


def test_score_output_full_answer():
    raw = (
        "The guide says ##begin_quote##Hold the power button for ten seconds.##end_quote## "
        "<ANSWER>: ten seconds"
    )
    s = metrics.score_output(raw, "10 seconds", ["Hold the power button for ten seconds."], ["x"], labels=False)
    assert s["answer"] == s["answer_lenient"] == "ten seconds"
    assert (s["em_strict"], s["f1_strict"], s["format"], s["quotes"]) == (0.0, 0.5, 1.0, 1)
    assert (s["em_lenient"], s["f1_lenient"]) == (0.0, 0.5)
    assert s["quote_validity"] == 1.0
    assert s["citation_precision"] == 0.0
    assert s["abstained"] == 0.0 and s["truncated"] == 0.0
    assert s["truthfulness"] == -1.0  # wrong and not abstaining
    assert "accuracy_strict" not in s


def test_untagged_answers_score_leniently_and_truncation_counts():
    """An answer without the tag scores 0 strictly but is judged on its last line leniently."""
    raw = "The manual says to hold the button.\n10 seconds"
    s = metrics.score_output(raw, "10 seconds", [], [], finish_reason="length")
    assert (s["em_strict"], s["format"]) == (0.0, 0.0)
    assert (s["answer_lenient"], s["em_lenient"], s["f1_lenient"]) == ("10 seconds", 1.0, 1.0)
    assert s["truncated"] == 1.0 and s["truthfulness"] == 1.0
    labels = metrics.score_output("Looking at the results.\nYes, it helps.", "yes", [], [], labels=True)
    assert (labels["accuracy_strict"], labels["accuracy_lenient"]) == (0.0, 1.0)


def test_score_output_missing_tag_and_abstention():
    s = metrics.score_output("no tag here", "yes", [], [], labels=True)
    assert (s["answer"], s["em_strict"], s["f1_strict"], s["format"], s["accuracy_strict"]) == (None, 0.0, 0.0, 0.0, 0.0)
    assert s["quote_validity"] is None
    a = metrics.score_output("<ANSWER>: The documents do not contain the answer.", "x", [], [])
    assert a["abstained"] == 1.0 and a["truthfulness"] == 0.0
    assert metrics.score_output("<ANSWER>: x", None, [], [])["em_strict"] is None


def test_abstention_is_the_whole_answer_not_a_phrase_inside_it():
    from raft import prompts

    assert prompts.is_abstention("The documents do not contain the answer.")
    assert prompts.is_abstention("the documents do NOT contain the answer")
    assert not prompts.is_abstention("Bags do not contain lithium")
    assert not prompts.is_abstention("The box does not contain a charger.")


def test_refusal_precision_and_recall():
    abstained = [True, True, False, False, True]
    answerable = [False, True, False, True, False]
    r = metrics.refusal_scores(abstained, answerable)
    assert r["refusal_precision"] == pytest.approx(2 / 3)  # 2 of 3 refusals were right
    assert r["refusal_recall"] == pytest.approx(2 / 3)  # 2 of 3 unanswerable cases refused
    assert metrics.refusal_scores([False], [True]) == {"refusal_precision": None, "refusal_recall": None}


def test_one_quote_rule_for_generate_eval_and_chat():
    """Case differs: generate drops it, eval calls it invalid, chat shows no citation (one rule)."""
    from raft.quotes import INVALID, REPAIRED, check_quotes
    from raft.serve.citations import render_answer

    source = "Hold the power button for ten seconds."
    wrong_case = "##begin_quote##hold the power button for TEN seconds.##end_quote## <ANSWER>: ten seconds"
    spaced = "##begin_quote##Hold the power  button\nfor ten seconds.##end_quote## <ANSWER>: ten seconds"
    assert check_quotes(wrong_case, source).status == INVALID
    assert metrics.quote_validity(["hold the power button for TEN seconds."], [source]) == 0.0
    assert render_answer(wrong_case, [source])[1][0].source is None
    assert check_quotes(spaced, source).status == REPAIRED
    assert metrics.quote_validity(["Hold the power  button\nfor ten seconds."], [source]) == 1.0
    assert render_answer(spaced, [source])[1][0].source == 1


def test_bootstrap_ci_seeded_and_brackets_mean():
    values = [1, 0, 1, 1, 0, 1, 0, 1, 1, 1]
    low, high = metrics.bootstrap_ci(values, n_resamples=500, seed=3)
    assert (low, high) == metrics.bootstrap_ci(values, n_resamples=500, seed=3)
    assert low <= 0.7 <= high
    assert metrics.bootstrap_ci([0.5] * 4) == (0.5, 0.5)


def test_paired_bootstrap_identical_systems():
    a = [1.0, 0.0, 0.5, 1.0, 0.25]
    d = metrics.paired_bootstrap(a, list(a), seed=0)
    assert d["diff"] == 0.0 and d["low"] == 0.0 and d["high"] == 0.0
    assert d["low"] <= 0.0 <= d["high"]
    assert d["n"] == 5


def test_paired_bootstrap_detects_a_consistent_gain_and_is_seeded():
    a = [1.0] * 15 + [0.0] * 5
    b = [0.0] * 12 + [1.0] * 3 + [0.0] * 5
    d = metrics.paired_bootstrap(a, b, n_resamples=2000, seed=7)
    assert d["diff"] == pytest.approx(0.6)
    assert 0.0 < d["low"] < 0.6 < d["high"] <= 1.0
    assert d["p_le_0"] == 0.0
    assert metrics.paired_bootstrap(a, b, n_resamples=2000, seed=7) == d
    assert metrics.paired_bootstrap(a, b, n_resamples=2000, seed=8) != d


def test_paired_bootstrap_edge_cases():
    with pytest.raises(ValueError):
        metrics.paired_bootstrap([1.0], [1.0, 0.0])
    empty = metrics.paired_bootstrap([], [])
    assert empty["n"] == 0 and math.isnan(empty["diff"])


def test_mean_skips_none():
    assert metrics.mean([1.0, None, 0.0]) == 0.5
    assert metrics.mean([None]) is None


def test_time_to_first_token_stops_each_stream_at_its_first_piece():
    from raft.eval.systems import _ttft
    from raft.serve.decoding import DecodingConfig

    class Long:
        name = "long"

        def __init__(self) -> None:
            self.pieces, self.closed = 0, 0

        def stream(self, messages, cfg):
            try:
                for _ in range(1000):
                    self.pieces += 1
                    yield "word "
            finally:
                self.closed += 1

    gen = Long()
    assert _ttft(gen, [[{"role": "user", "content": "q"}]] * 3, DecodingConfig()) >= 0
    assert gen.pieces == 3 and gen.closed == 3  # one piece per question, then the generation is stopped
