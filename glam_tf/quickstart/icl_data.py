"""The quickstart's in-context-learning data: synthetic episodes and held-out tasks.

Three pattern families, each with a fixed, seeded set of instances split into
train and held-out instances (by a CRC-32 of the instance's key, never by
Python's salted `hash`):

  successor   "c d e ->" " f": the next item of an ordered list (letters,
              number words, weekdays, months). Held out: whole sequences
              (list, start, length); the successor facts they need are seen
              in other sequences, so it measures a learned pattern.
  category    "Q: What kind of thing is pear?\nA:" " fruit". Every fact is
              stated in training text as a sentence ("Pear is a kind of
              fruit."), but the Q/A form is only ever shown for the train
              words: held-out words measure whether knowledge read in one
              form is recalled in another (closed-book QA in miniature).
  lookup      "Color 05" " blue": a name (a two-digit number) and the color it is
              bound to in one group of 4 names, whose colors are a random 4 of
              8, drawn afresh for every group. The binding exists only in the
              group's other lines ("Color 05 blue"), so without them the
              answer is a guess among the group's 4 colors (chance by
              construction) and with them it is a copy of the word that
              followed the same name earlier (an induction head). Names in a
              group share no digit, so one digit already finds the binding.
              Names are numbers: the tokenizer always splits digits, so a
              held-out name has the same kind of pieces as a trained one.
              Held-out names never occur in training; the eval examples are
              the held-out groups' queries and their demonstrations are the
              same groups' bindings (`lookup_demonstrations`).

Training text (`training_documents`) is a list of documents: episodes of one
family (2 to 8 solved examples of train instances, separated by a blank
line, exactly the layout of a few-shot prompt) and the category statements.
Eval examples (`task_examples`) come from held-out instances, and the
few-shot pool from train instances (lookup: from the same held-out group).
"""

from __future__ import annotations

import functools
import random
import zlib
from typing import Iterator

ORDERED_LISTS = {
    "letters": tuple("abcdefghijklmnopqrstuvwxyz"),
    "numbers": ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
                "seventeen", "eighteen", "nineteen", "twenty"),
    "weekdays": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                 "Sunday"),
    "months": ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December"),
}

CATEGORIES = {
    "fruit": ("apple", "pear", "banana", "cherry", "plum", "mango", "lemon", "peach",
              "grape", "melon"),
    "animal": ("horse", "tiger", "rabbit", "camel", "wolf", "zebra", "goat", "otter",
               "mouse", "llama"),
    "color": ("red", "blue", "green", "yellow", "purple", "orange", "brown", "pink",
              "gray", "violet"),
    "tool": ("hammer", "saw", "drill", "wrench", "chisel", "shovel", "rake", "file",
             "axe", "pliers"),
    "vehicle": ("car", "bus", "truck", "bicycle", "train", "tram", "boat", "scooter",
                "van", "ship"),
    "instrument": ("piano", "violin", "guitar", "flute", "drum", "trumpet", "harp",
                   "cello", "banjo", "oboe"),
    "country": ("France", "Japan", "Brazil", "Kenya", "Canada", "Norway", "Peru", "Egypt",
                "India", "Spain"),
    "metal": ("iron", "copper", "silver", "gold", "zinc", "tin", "lead", "nickel",
              "cobalt", "chromium"),
}

LOOKUP_VALUES = ("red", "blue", "green", "yellow", "pink", "black", "white", "gray")
LOOKUP_NAMES = tuple(f"{i:02d}" for i in range(100))
LOOKUP_GROUPS = 30  # held-out groups of LOOKUP_BINDINGS names: 120 eval examples
LOOKUP_TRAIN_GROUPS = 400  # groups of train names the training episodes draw from

FAMILIES = ("successor", "category", "lookup")
# Episodes cycle through this: lookup (learning to read the prompt) gets half.
EPISODE_FAMILIES = ("successor", "lookup", "category", "lookup")
NUM_CANDIDATES = 4
LOOKUP_BINDINGS = 4
# Lines of a lookup episode: the first line of a name is a guess, each repeat a copy.
LOOKUP_EPISODE_LINES = (4, 10)
HELD_OUT_PERCENT = 25
SEED = 20240601


def is_held_out(family: str, key: str) -> bool:
    """Whether an instance is held out from training: a fixed CRC-32 of its key."""
    return zlib.crc32(f"{family}:{key}".encode()) % 100 < HELD_OUT_PERCENT


def _instances(family: str):
    """(key, fields) of every instance of `family`, in a fixed order."""
    if family == "successor":
        for name, items in ORDERED_LISTS.items():
            for length in range(3, 6):
                for start in range(len(items) - length):
                    yield f"{name}:{start}:{length}", {"list": name, "start": start,
                                                       "length": length}
    elif family == "category":
        for category, words in CATEGORIES.items():
            for word in words:
                yield word, {"word": word, "category": category}
    else:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")


def instances(family: str, split: str) -> list:
    """The instance field dicts of `family` in `split` ("train" or "held_out")."""
    if split not in ("train", "held_out"):
        raise ValueError(f"split={split!r}: must be 'train' or 'held_out'")
    if family == "lookup":
        return [dict(group, query=q) for group in lookup_groups(split)
                for q in range(LOOKUP_BINDINGS)]
    return [fields for key, fields in _instances(family)
            if is_held_out(family, key) == (split == "held_out")]


@functools.lru_cache(maxsize=None)
def _lookup_names(held_out: bool) -> tuple:
    """The lookup names of one split, in LOOKUP_NAMES order."""
    return tuple(n for n in LOOKUP_NAMES if is_held_out("lookup", n) == held_out)


@functools.lru_cache(maxsize=None)
def _lookup_groups(split: str) -> tuple:
    rng = random.Random(f"{SEED}:lookup:{split}")
    names = _lookup_names(split == "held_out")
    groups = []
    for index in range(LOOKUP_GROUPS if split == "held_out" else LOOKUP_TRAIN_GROUPS):
        chosen = []
        while len(chosen) < LOOKUP_BINDINGS:  # names that share no digit
            chosen = []
            for name in rng.sample(names, len(names)):
                if not set(name) & set("".join(chosen)):
                    chosen.append(name)
                if len(chosen) == LOOKUP_BINDINGS:
                    break
        groups.append({"group": f"{split}:{index}", "names": tuple(chosen),
                       "colors": tuple(rng.sample(LOOKUP_VALUES, LOOKUP_BINDINGS))})
    return tuple(groups)


def lookup_groups(split: str) -> list:
    """The lookup groups of `split`: {"group": id, "names", "colors"} (4 bindings each)."""
    return [dict(g) for g in _lookup_groups(split)]


def _distractors(rng, answer, pool):
    others = sorted(set(pool) - {answer})
    return rng.sample(others, NUM_CANDIDATES - 1)


def make_example(family: str, fields: dict, rng: random.Random) -> dict:
    """One example: {"family", "prompt", "answer", "candidates", "label"}.

    Candidates are the answer and three distractors of the same kind, in a
    random order drawn from `rng`; `prompt` + " " + answer is the solved form.
    """
    if family == "successor":
        items = ORDERED_LISTS[fields["list"]]
        start, length = fields["start"], fields["length"]
        prompt = " ".join(items[start:start + length]) + " ->"
        answer, pool = items[start + length], items
    elif family == "category":
        word = fields["word"]
        prompt = f"Q: What kind of thing is {word}?\nA:"
        answer, pool = fields["category"], tuple(CATEGORIES)
    else:
        query = fields["query"]
        prompt = f"Color {fields['names'][query]}"
        answer, pool = fields["colors"][query], fields["colors"]  # the group's 4 colors
    candidates = [answer] + _distractors(rng, answer, pool)
    rng.shuffle(candidates)
    example = {"family": family, "prompt": prompt, "answer": answer,
               "candidates": candidates, "label": candidates.index(answer)}
    if family == "lookup":
        example["group"] = fields["group"]
    return example


def task_examples(family: str, split: str, seed: int = SEED) -> list:
    """Examples of every instance of `family` in `split` ("train" or "held_out"), in order."""
    rng = random.Random(f"{seed}:{family}:{split}")
    return [make_example(family, fields, rng) for fields in instances(family, split)]


def chance(family: str) -> float:
    """Accuracy of a uniform guess among the candidates."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}")
    return 1.0 / NUM_CANDIDATES


def category_statements() -> list:
    """One sentence per fact, train and held-out words alike."""
    return [f"{w[0].upper() + w[1:]} is a kind of {c}."
            for c, words in CATEGORIES.items() for w in words]


def training_documents(num_episodes: int = 12_000, seed: int = SEED) -> list:
    """The in-context-learning component: episodes of train instances and fact statements.

    Each episode is 2 to 8 solved examples of one family, each `prompt +
    " " + answer`, separated by a blank line (a few-shot prompt's layout);
    families take turns as in EPISODE_FAMILIES.
    Statement documents list 4 to 10 of the category facts in random order;
    there is one per 8 episodes.
    """
    rng = random.Random(f"{seed}:documents")
    pools = {family: instances(family, "train") for family in FAMILIES}
    statements = category_statements()
    documents = []
    for index in range(num_episodes):
        family = EPISODE_FAMILIES[index % len(EPISODE_FAMILIES)]
        if family == "lookup":  # one group, its names in a random order, repeats allowed
            group = rng.choice(pools["lookup"])
            shots = [make_example(family, dict(group, query=rng.randrange(LOOKUP_BINDINGS)), rng)
                     for _ in range(rng.randint(*LOOKUP_EPISODE_LINES))]
        else:
            shots = [make_example(family, rng.choice(pools[family]), rng)
                     for _ in range(rng.randint(2, 8))]
        documents.append("\n\n".join(f"{e['prompt']} {e['answer']}" for e in shots))
        if index % 8 == 7:
            documents.append(" ".join(rng.sample(statements, rng.randint(4, 10))))
    return documents


def iter_lines(documents) -> Iterator[str]:
    """Every solved example (blank-line-separated block) of some documents."""
    for document in documents:
        yield from document.split("\n\n")
