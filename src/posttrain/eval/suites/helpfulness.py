"""The ``helpfulness`` suite: pairwise win-rate against a baseline model's answers, judged by a reward model.

Needs ``--judge RM_DIR`` (a reward model, e.g. one trained with ``posttrain rm``) and ``--baseline
MODEL``. The baseline answers the same prompts (the style suite's everyday questions) with the same
greedy settings; the reward model scores each conversation ending in either answer. An item scores
1 when the model's answer gets the higher reward, 0.5 on a tie (within 1e-6) and 0 otherwise;
``win_rate`` is their mean, so 0.5 means "as helpful as the baseline".

Position bias: a judge that reads two answers side by side tends to favour one position, so a
pairwise judge must see both orders and average them. A scalar reward model scores each answer in
its own conversation and never sees the other, so there is no position to favour and one pass is
exact. Length bias remains: reward models often prefer longer answers; read the win-rate next to
the style suite's length statistics.

With ``--judge-model MODEL`` (a chat model) instead of ``--judge``, the judge reads both answers
side by side and names the better one, A or B. That judge can favour a position, so every pair is
asked in both orders and the two probabilities that the model's answer is better are averaged
(:func:`pairwise_judge`); the item is a win above 0.5, a loss below, a tie at 0.5.
"""

from __future__ import annotations

from typing import ClassVar

from posttrain.errors import UserError
from posttrain.eval.suite import Generation, RunSettings, Suite, SuiteOptions, register

TIE = 1e-6


def pairwise_outcome(reward: float, baseline_reward: float) -> tuple[float, str]:
    """1 / 0.5 / 0 for a win / tie / loss of ``reward`` against ``baseline_reward``, and why."""
    if abs(reward - baseline_reward) <= TIE:
        outcome, word = 0.5, "tie"
    else:
        outcome, word = (1.0, "win") if reward > baseline_reward else (0.0, "loss")
    return outcome, f"{word}: reward {reward:.3f} vs baseline {baseline_reward:.3f}"


@register
class HelpfulnessSuite(Suite):
    name = "helpfulness"
    data_file = "style.jsonl"
    generation = Generation(max_new_tokens=128)
    metrics: ClassVar[dict[str, bool | None]] = {"win_rate": True}

    def __init__(self, options: SuiteOptions | None = None) -> None:
        super().__init__(options)
        if not (self.options.judge or self.options.judge_model) or not self.options.baseline:
            raise UserError("suite 'helpfulness' compares the model's answers with a baseline model's, judged by a "
                            "reward model or a chat model: give --judge RM_DIR (e.g. trained with `posttrain rm`) "
                            "or --judge-model MODEL, and --baseline MODEL")

    def score(self, item: dict, answer: str) -> tuple[float, str]:
        raise UserError("suite 'helpfulness' scores answers in pairs against a baseline; use score_all")

    def score_all(self, items: list[dict], answers: list[str], settings: RunSettings) -> list[tuple[float, str]]:
        from tqdm import tqdm

        from posttrain.eval.generation import answer_requests, requests_for
        from posttrain.models.loading import load_model, load_tokenizer
        from posttrain.models.reward import RewardModel

        judge = RewardModel.load(self.options.judge) if self.options.judge else None  # a bad path fails first
        model, tokenizer = load_model(self.options.baseline), load_tokenizer(self.options.baseline)
        with tqdm(total=len(items), desc="baseline", disable=not settings.progress) as bar:
            baseline_answers = answer_requests(model, tokenizer, requests_for(self, items), seed=settings.seed,
                                               batch_size=settings.batch_size, on_answered=bar.update)
        del model
        if judge is None:
            judge_name = self.options.judge_model
            return pairwise_judge(load_model(judge_name), load_tokenizer(judge_name),
                                  [self.messages(item)[-1]["content"] for item in items], answers, baseline_answers,
                                  batch_size=settings.batch_size)
        conversations = [self.messages(item) + [{"role": "assistant", "content": answer}]
                         for item, answer in zip(items + items, answers + baseline_answers)]
        rewards = judge.score(conversations)
        return [pairwise_outcome(mine, theirs) for mine, theirs in zip(rewards[: len(items)], rewards[len(items):])]


PAIR_QUESTION = (
    "Which answer to the request is more helpful, accurate and concise?\n\nRequest: {request}\n\n"
    "Answer A: {a}\n\nAnswer B: {b}\n\nReply with one letter: A or B."
)
A_WORDS, B_WORDS = ("A", " A"), ("B", " B")


def pairwise_judge(model, tokenizer, requests: list[str], answers: list[str], baseline_answers: list[str],
                   batch_size: int = 8) -> list[tuple[float, str]]:
    """Win/tie/loss of each answer against the baseline's, by a chat judge asked in both orders.

    P(better) = mean of P(A) with the answer shown first and P(B) with it shown second, so a judge
    that always prefers one position gives exactly 0.5 (a tie) rather than a spurious win or loss.
    """
    from posttrain.eval.judge import verdict_probabilities

    first = [PAIR_QUESTION.format(request=r, a=mine, b=theirs) for r, mine, theirs in zip(requests, answers, baseline_answers)]
    second = [PAIR_QUESTION.format(request=r, a=theirs, b=mine) for r, mine, theirs in zip(requests, answers, baseline_answers)]
    options = [A_WORDS, B_WORDS]
    shown_first = verdict_probabilities(model, tokenizer, first, options, batch_size)
    shown_second = verdict_probabilities(model, tokenizer, second, options, batch_size)
    outcomes = []
    for (p_a_first, _), (_, p_b_second) in zip(shown_first, shown_second):
        better = (p_a_first + p_b_second) / 2
        outcome = 0.5 if abs(better - 0.5) <= TIE else float(better > 0.5)
        word = {1.0: "win", 0.5: "tie", 0.0: "loss"}[outcome]
        reason = f"{word}: judge P(better) = {better:.3f} (shown first {p_a_first:.3f}, second {p_b_second:.3f})"
        outcomes.append((outcome, reason))
    return outcomes
