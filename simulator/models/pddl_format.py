"""The ``pddl`` prompt format for real LLMs, and plan extraction from what they write.

A real LLM reads the task as the paper's base model did: the domain PDDL, the problem PDDL and an
instruction to write one action a line as ``(action arg1 arg2)``, optionally after a few solved
tasks of the same domain (few-shot). Solved examples are tiny generated tasks with their
breadth-first optimal plans (the generator's witness plan when search exceeds its budget), so they
show short, correct plans in exactly the form asked for. With a chat template (instruct models),
the instruction is a system message, each example a user turn answered by an assistant turn, and
the task the last user turn; without one, the same text is laid out as a plain document ending in
``Plan:``. PDDL comments are stripped from what the model reads: they carry source URLs and
generator notes, never semantics, and every token of a long prompt costs sampling time.

Extraction (:func:`extract_llm_plan`) never raises and never guesses silently: it returns the plan
text the validator reads (one ``(name arg ...)`` a line, lower case) and every line it ignored.

1. Reasoning is cut out first: ``<think>…</think>`` (also ``<thinking>``, ``<reasoning>``), an
   unclosed opening tag (the model hit its token limit while thinking: everything after it), and a
   closing tag with no opening one (templates that open the block in the prompt: everything
   before it). It is kept in :attr:`ExtractedLlmPlan.reasoning` and counted in
   :attr:`ExtractedLlmPlan.n_reasoning_tokens`.
2. Each remaining line loses Markdown (backticks, ``**``, ``__``, a leading ``>``) and labels
   (``Step 3:``, ``Action 4 -``, ``Move 5.``), then is read by the validator's own rules
   (:mod:`iterdeploy.simulator.planning.plan_text`,
   :func:`~iterdeploy.simulator.planning.plan_text.split_plan_lines`):
   numbering and bullets (``1.``, ``2)``, ``-``, ``*``), comments (``;``, ``;;``, ``#``, ``//``)
   and ``;`` between actions.
3. A piece is an action line when it starts with parenthesised groups, ``(a x) (b y)``, each of
   which reads as an action (:func:`~iterdeploy.simulator.planning.plan_text.leading_actions`) whose name is
   not a predicate of the domain (``(on a b)`` restating the goal is a fact, not a step; an action
   name the domain lacks is kept, so the validator reports ``unknown_action``); text after the
   groups is ignored and reported. Or when the whole piece reads as ``name arg ...``
   (:func:`~iterdeploy.simulator.planning.plan_text.parse_action_line`) and ``name`` is an action of the
   domain (or, without a domain, when the line is inside a code fence).
4. If a fenced code block contains action lines, the first such block is the plan and every
   other line is ignored (models that fence their plan explain around it). Otherwise the plan is
   every action line up to the first line, after at least one action, that starts a new section:
   a new task or domain (``(define``, ``Problem``, ``Task``, ``Domain``, ``Example``), a chat role
   or special token (``User:``, ``<|…``), or a recap (``Explanation``, ``Verification``, ``Note``).
   A base model continuing the few-shot pattern writes the next problem after its plan; an
   instruct model explains the plan it just wrote, often repeating its actions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from iterdeploy.simulator.planning import (
    TYPE_PREFIX,
    GroundTask,
    breadth_first_plan,
    domain_path,
    domain_spec,
    generate,
    load_domain_schemas,
    plan_task,
    problem_to_pddl,
    shipped_domain_constants,
    task_rng,
)
from iterdeploy.simulator.planning.plan_text import (
    action_text,
    leading_actions,
    parse_action_line,
    split_plan_lines,
)

SYSTEM_PROMPT = (
    "You are a classical planner. You read a planning domain and a planning problem written in "
    "PDDL and write a plan that reaches the goal from the initial state."
)
"""What the model is (system message, or the first paragraph without a chat template)."""

PLAN_INSTRUCTION = (
    "Write a plan for this problem: one action per line, in the form (action arg1 arg2), "
    "using the action names of the domain and the object names of the problem, and nothing else."
)
"""The instruction closing every user turn."""

FEW_SHOT_SEED = 7919
"""Seed of the few-shot examples (a stream of its own, disjoint from any scenario's draws)."""

_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(think|thinking|reasoning)>", re.IGNORECASE)
_FENCE = re.compile(r"^(?:`{3,}|~{3,})\s*[\w+.\-]*\s*$")
_MARKUP = re.compile(r"`+|\*\*|__")
_QUOTE = re.compile(r"^(?:>\s*)+")
_LABEL = re.compile(r"^(?:step|action|move)\s*#?\s*\d+\s*[:.)\-]\s*", re.IGNORECASE)
_SECTION = re.compile(
    r"^(?:#+\s*)?(?:problem|task|domain|example|question|user|assistant|human|system|"
    r"explanation|verification|verify|check|note|notes)\b|\(define\b|<\|",
    re.IGNORECASE,
)
_PDDL_COMMENT = re.compile(r";.*$")


@dataclass(frozen=True)
class ExtractedLlmPlan:
    """What extraction found in a real LLM's completion.

    Has the two fields of :class:`iterdeploy.simulator.models._format.ExtractedPlan` (``plan_text``,
    ``n_reasoning_tokens``), so the loop can treat both formats alike.
    """

    plan_text: str
    """One ``(name arg ...)`` a line, lower case: what the validator reads."""
    n_reasoning_tokens: int
    """Tokens (or words, without a tokenizer) of the reasoning text."""
    ignored_lines: tuple[str, ...] = ()
    """Every non-blank line or line remainder that was not taken as an action, in order."""
    reasoning: str = ""
    """The reasoning text cut out before extraction (``<think>`` blocks)."""


@dataclass(frozen=True)
class FewShotExample:
    """A solved task shown in the prompt."""

    problem_pddl: str
    plan: tuple[str, ...]
    """``(name arg ...)`` per action."""
    task: GroundTask | None = None
    """The task itself, to keep the task being asked about out of its own examples."""


# -- prompts ---------------------------------------------------------------------------------
def strip_pddl_comments(text: str) -> str:
    """PDDL without ``;`` comments, trailing blanks and blank lines (PDDL has no strings, so
    every ``;`` starts a comment)."""
    lines = (_PDDL_COMMENT.sub("", line).rstrip() for line in text.splitlines())
    return "\n".join(line for line in lines if line.strip())


def domain_pddl_text(domain: str) -> str:
    """The shipped domain file of ``domain`` (registry name), comments stripped."""
    return strip_pddl_comments(domain_path(domain).read_text())


def problem_pddl_of(domain: str, task: GroundTask) -> str:
    """The problem PDDL of a task the loop holds as a :class:`GroundTask` (comments stripped)."""
    return strip_pddl_comments(problem_to_pddl(task, constants=shipped_domain_constants(domain)))


def _same_task(a: GroundTask, b: GroundTask) -> bool:
    return a.init == b.init and a.goal == b.goal and a.objects == b.objects


def few_shot_examples(
    domain: str,
    n: int,
    *,
    seed: int = FEW_SHOT_SEED,
    params: Mapping[str, int] | None = None,
    exclude: Sequence[GroundTask] = (),
    max_nodes: int = 500,
    planner_time_s: float = 5.0,
) -> list[FewShotExample]:
    """``n`` tiny solved tasks of ``domain``, none equal to a task in ``exclude``.

    Args:
        domain: registry name of the domain.
        n: how many examples.
        seed: the examples' seed; the same seed gives the same examples.
        params: generator parameters; default: the main size one above its minimum (2 cars,
            3 blocks, ...), small enough for a short plan and a short problem text.
        exclude: tasks not to show (the task being asked about).
        max_nodes: breadth-first search budget for the optimal plan (enough for Blocksworld's
            tiny examples; our grounding per state is slow on Rovers or Sokoban, where 5,000
            nodes took 25 s a domain).
        planner_time_s: beyond that budget, Fast Downward's optimal configuration gets this long;
            then the generator's witness plan (valid, maybe not shortest).
    """
    if params is None:
        main = domain_spec(domain).params[0]
        params = {main.name: min(main.low + 1, main.high)}
    out: list[FewShotExample] = []
    seen: list[GroundTask] = list(exclude)
    index = 0
    while len(out) < n and index < 50 * (n + 1):
        gen = generate(domain, params, task_rng(seed, domain, index), name=f"{domain}-example-{index + 1}")
        index += 1
        if any(_same_task(gen.task, other) for other in seen):
            continue
        seen.append(gen.task)
        optimal = breadth_first_plan(gen.task, max_nodes=max_nodes)
        if optimal is not None:
            plan = tuple(a.to_pddl() for a in optimal)
        else:
            found = plan_task(gen.task, gen.domain_file, optimal=True, time_limit_s=planner_time_s)
            plan = found.plan if found.solved else gen.witness_plan
        out.append(FewShotExample(strip_pddl_comments(gen.problem_pddl), plan, gen.task))
    return out


def render_pddl_completion(plan: Sequence[str]) -> str:
    """A plan as the completion a model should write (training target): one action a line."""
    return "\n".join(plan)


def pddl_messages(
    domain_pddl: str, problem_pddl: str, shots: Sequence[FewShotExample] = ()
) -> list[dict[str, str]]:
    """Chat messages: system, then (user, assistant) per example, then the task's user turn.

    The domain is shown once, in the first user turn, since every example shares it.
    """
    def user(problem: str, first: bool) -> dict[str, str]:
        head = f"Domain:\n{domain_pddl}\n\n" if first else ""
        return {"role": "user", "content": f"{head}Problem:\n{problem}\n\n{PLAN_INSTRUCTION}"}

    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for i, shot in enumerate(shots):
        messages.append(user(shot.problem_pddl, i == 0))
        messages.append({"role": "assistant", "content": render_pddl_completion(shot.plan)})
    messages.append(user(problem_pddl, not shots))
    return messages


def render_messages(messages: Sequence[Mapping[str, str]], tokenizer: Any | None = None) -> str:
    """Prompt text: the tokenizer's chat template when it has one, else a plain document.

    The plain layout ends with ``Plan:`` and a line break, so a base model's continuation is
    the plan itself.
    """
    if tokenizer is not None and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=True)
        return str(text)
    parts = []
    for msg in messages:
        if msg["role"] == "assistant":
            parts.append(f"Plan:\n{msg['content']}")
        else:
            parts.append(msg["content"])
    return "\n\n".join(parts) + "\n\nPlan:\n"


def render_pddl_prompt(
    domain: str,
    problem_pddl: str,
    *,
    tokenizer: Any | None = None,
    shots: Sequence[FewShotExample] = (),
) -> str:
    """The whole prompt for one task of ``domain`` (registry name)."""
    messages = pddl_messages(domain_pddl_text(domain), strip_pddl_comments(problem_pddl), shots)
    return render_messages(messages, tokenizer)


# -- extraction ------------------------------------------------------------------------------
def split_reasoning(text: str) -> tuple[str, str]:
    """``(answer, reasoning)``: the text outside and inside thinking blocks (rules in the module
    doc). Removed blocks leave a line break behind, so the lines around them never merge."""
    answer: list[str] = []
    reasoning: list[str] = []
    pos = 0
    first_open = _THINK_OPEN.search(text)
    first_close = _THINK_CLOSE.search(text)
    if first_close is not None and (first_open is None or first_close.start() < first_open.start()):
        reasoning.append(text[: first_close.start()])
        pos = first_close.end()
    while True:
        opening = _THINK_OPEN.search(text, pos)
        if opening is None:
            answer.append(text[pos:])
            break
        answer.append(text[pos : opening.start()])
        closing = _THINK_CLOSE.search(text, opening.end())
        if closing is None:
            reasoning.append(text[opening.end():])
            break
        reasoning.append(text[opening.end() : closing.start()])
        pos = closing.end()
    return "\n".join(answer), "\n".join(r.strip() for r in reasoning if r.strip())


def _clean(line: str) -> str:
    line = _MARKUP.sub("", line)
    line = _QUOTE.sub("", line.strip())
    return _LABEL.sub("", line).strip()


def _actions_in_piece(
    piece: str, actions: frozenset[str] | None, predicates: frozenset[str], in_fence: bool
) -> tuple[list[str], str]:
    """(actions, leftover text) of one cleaned piece; no actions when it is not an action line."""
    leading = leading_actions(piece)
    if leading is not None:
        found, rest = leading
        if any(name in predicates for name, _ in found):
            return [], piece
        return [action_text(action) for action in found], rest
    # a piece that starts with a group that is no action is no action as a whole either (one
    # enclosing pair at most), so only bare ``name arg ...`` pieces get here with a chance
    parsed = parse_action_line(piece)
    if parsed is None:
        return [], piece
    if (actions is not None and parsed[0] in actions) or (actions is None and in_fence):
        return [action_text(parsed)], ""
    return [], piece


def _line_actions(
    line: str, actions: frozenset[str] | None, predicates: frozenset[str], in_fence: bool
) -> tuple[list[str], list[str]]:
    """(actions, ignored texts) of one raw line."""
    cleaned = _clean(line)
    if not cleaned:
        return [], []
    pieces, ignored = split_plan_lines(cleaned)
    found: list[str] = []
    for piece in pieces:
        got, rest = _actions_in_piece(_clean(piece), actions, predicates, in_fence)
        found.extend(got)
        if rest:
            ignored.append(rest)
    if not found:
        return [], [line.strip()]
    return found, ignored


def extract_llm_plan(
    text: str,
    *,
    actions: Collection[str] | None = None,
    predicates: Collection[str] = (),
    count_tokens: Callable[[str], int] | None = None,
) -> ExtractedLlmPlan:
    """The plan in a real LLM's completion (rules in the module docstring). Never raises.

    Args:
        text: the completion as the model wrote it.
        actions: the domain's action names (lower case); without them only parenthesised actions
            and bare ones inside code fences count.
        predicates: the domain's predicate names: parenthesised groups with these names are facts.
        count_tokens: counts reasoning tokens (the model's tokenizer); default: words.
    """
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    action_set = frozenset(a.lower() for a in actions) if actions is not None else None
    predicate_set = frozenset(p.lower() for p in predicates)
    answer, reasoning = split_reasoning(text)
    count = count_tokens if count_tokens is not None else (lambda s: len(s.split()))
    n_reasoning = count(reasoning) if reasoning else 0

    # one record per non-blank line: (raw line, fence block index or None, actions, ignored)
    records: list[tuple[str, int | None, list[str], list[str]]] = []
    fence: int | None = None
    n_fences = 0
    for raw in answer.splitlines():
        stripped = raw.strip()
        if not stripped:
            continue
        if _FENCE.match(stripped):
            if fence is None:
                fence, n_fences = n_fences, n_fences + 1
            else:
                fence = None
            records.append((stripped, None, [], []))  # fences are markup, never reported
            continue
        found, ignored = _line_actions(stripped, action_set, predicate_set, fence is not None)
        records.append((stripped, fence, found, ignored))

    fenced_plan = next((r[1] for r in records if r[1] is not None and r[2]), None)
    plan: list[str] = []
    dropped: list[str] = []
    ended = False
    for raw, block, found, ignored in records:
        if _FENCE.match(raw):
            continue
        if fenced_plan is not None:
            take = block == fenced_plan
        else:
            if plan and not found and _SECTION.search(_clean(raw)):
                ended = True
            take = not ended
        if take:
            plan.extend(found)
            dropped.extend(ignored)
        else:
            dropped.append(raw)
    return ExtractedLlmPlan("\n".join(plan), n_reasoning, tuple(dropped), reasoning)


# -- the format as one object ----------------------------------------------------------------
class PddlPromptFormat:
    """Prompts and extraction for one model's tokenizer: few-shot examples cached per domain.

    Args:
        tokenizer: the model's tokenizer (chat template, reasoning-token counts); None for plain
            prompts and word counts.
        n_shots: solved examples shown before each task.
        shot_params: generator parameters of the examples per domain (default: tiny tasks).
        seed: the examples' seed.
    """

    def __init__(
        self,
        tokenizer: Any | None = None,
        *,
        n_shots: int = 2,
        shot_params: Mapping[str, Mapping[str, int]] | None = None,
        seed: int = FEW_SHOT_SEED,
    ) -> None:
        self.tokenizer = tokenizer
        self.n_shots = n_shots
        self.shot_params = dict(shot_params or {})
        self.seed = seed
        self._pool: dict[str, list[FewShotExample]] = {}
        self._vocab: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def _shots(self, domain: str, task: GroundTask | None) -> list[FewShotExample]:
        """The domain's first ``n_shots`` examples, skipping one equal to ``task``."""
        if self.n_shots <= 0:
            return []
        if domain not in self._pool:
            self._pool[domain] = few_shot_examples(
                domain, self.n_shots + 1, seed=self.seed, params=self.shot_params.get(domain)
            )
        pool = self._pool[domain]
        if task is not None:
            pool = [s for s in pool if s.task is None or not _same_task(s.task, task)]
        return pool[: self.n_shots]

    def prompt(self, domain: str, problem_pddl: str, *, task: GroundTask | None = None) -> str:
        """The prompt for a task given as PDDL (``task``, when given, is never its own example)."""
        return render_pddl_prompt(domain, problem_pddl, tokenizer=self.tokenizer,
                                  shots=self._shots(domain, task))

    def prompt_for_task(self, domain: str, task: GroundTask) -> str:
        """The prompt for a task the loop holds as a :class:`GroundTask`."""
        return self.prompt(domain, problem_pddl_of(domain, task), task=task)

    def vocabulary(self, domain: str) -> tuple[frozenset[str], frozenset[str]]:
        """(action names, predicate names) of ``domain``."""
        if domain not in self._vocab:
            schemas = load_domain_schemas(domain)
            acts = frozenset(s.name.lower() for s in schemas)
            preds = frozenset(
                a[0].lower() for s in schemas
                for a in (*s.preconditions, *s.add_effects, *s.delete_effects)
                if not a[0].startswith(TYPE_PREFIX)
            )
            self._vocab[domain] = (acts, preds - acts)
        return self._vocab[domain]

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` under the model's tokenizer (words without one)."""
        if self.tokenizer is None:
            return len(text.split())
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def extract(self, completion: str, domain: str) -> ExtractedLlmPlan:
        """The plan in ``completion`` for a task of ``domain``."""
        acts, preds = self.vocabulary(domain)
        return extract_llm_plan(completion, actions=acts, predicates=preds, count_tokens=self.count_tokens)
