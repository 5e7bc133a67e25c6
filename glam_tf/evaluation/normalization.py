"""How rank tasks turn a candidate's log-likelihood into its score (`Task.normalization`).

Light on purpose (no TensorFlow): `Task` validates its normalization with it.
"""

from __future__ import annotations

from typing import Optional

# How a candidate's log-likelihood becomes the score it is ranked by (Task.normalization).
# Each entry: (log-likelihood, token count, continuation text, unconditional
# log-likelihood or None) -> score. GPT-3 ranks by "token" on most tasks and by
# "unconditional" on ARC, OpenBookQA and RACE (its section 2.4).
NORMALIZATIONS = {
    "sum": lambda ll, tokens, text, base: ll,
    "token": lambda ll, tokens, text, base: ll / tokens,
    "char": lambda ll, tokens, text, base: ll / len(text),
    "unconditional": lambda ll, tokens, text, base: ll - base,
}
NORMALIZATION_TITLES = {
    "sum": "sum of log-likelihoods (unnormalized)",
    "token": "mean log-likelihood per token",
    "char": "log-likelihood per character of the continuation",
    "unconditional": "log P(c | prompt) - log P(c | unconditional context)",
}


def normalization_problem(normalization, unconditional_context) -> Optional[tuple[str, str]]:
    """None if the pair is valid (a context iff "unconditional"), else (field, rule broken)."""
    if normalization not in NORMALIZATIONS:
        return "normalization", f"must be one of {', '.join(NORMALIZATIONS)}"
    if normalization == "unconditional":
        if not isinstance(unconditional_context, str) or not unconditional_context:
            return ("unconditional_context", "normalization 'unconditional' needs a non-empty "
                    "unconditional_context, such as \"Answer:\"")
    elif unconditional_context is not None:
        return "unconditional_context", "only normalization 'unconditional' takes one"
    return None


def check_normalization(normalization, unconditional_context) -> None:
    """Raises ValueError naming the field when `normalization_problem` finds one."""
    problem = normalization_problem(normalization, unconditional_context)
    if problem is not None:
        value = normalization if problem[0] == "normalization" else unconditional_context
        raise ValueError(f"{problem[0]}={value!r}: {problem[1]}")
