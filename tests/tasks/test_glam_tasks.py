"""The 29 GLaM benchmarks: categories, TFDS builders, formatting, StoryCloze's manual data.

Formatting is tested against each real TFDS builder's feature spec with
`tfds.testing.mock_data` (no download). Mock values are random, so a few
content rules the real data always keeps (a WinoGrande blank, ARC's answer key
among the choice labels, parallel lists of equal length, ...) are restored by
`_MOCK_REPAIRS` before formatting; `test_formatters_reject_*` shows that the
formatters do check those rules.
"""

import csv
import dataclasses
import os

import pytest
import tensorflow_datasets as tfds
from etils import epath

from glam_tf.tasks import (GLAM_CATEGORIES, GLAM_TASKS, NO_ANSWER,
                           REGISTRY, ManualFileSource, SplitSources, TaskDataError, TfdsSource,
                           glam_tasks)

PAPER_COUNTS = {"open_domain_qa": 3, "cloze_completion": 3, "winograd_style": 2,
                "common_sense_reasoning": 4, "reading_comprehension": 6, "superglue": 8,
                "nli": 3}


def test_the_category_table_has_the_papers_7_categories_and_29_tasks():
    table = {c: [t.name for t in tasks] for c, tasks in REGISTRY.by_category().items()
             if c in GLAM_CATEGORIES}
    assert {c: len(names) for c, names in table.items()} == PAPER_COUNTS
    assert sum(PAPER_COUNTS.values()) == len(GLAM_TASKS) == 29
    assert table["superglue"] == ["boolq", "cb", "copa", "rte", "wic", "wsc", "multirc", "record"]
    assert table["nli"] == ["anli_r1", "anli_r2", "anli_r3"]


def test_nlg_tasks_generate_and_nlu_tasks_rank_with_the_papers_metrics():
    by_kind = {t.name: (t.kind, t.metrics[0]) for t in GLAM_TASKS}
    for name in ("triviaqa", "natural_questions", "web_questions", "lambada"):
        assert by_kind[name] == ("generate", "exact_match")
    for name in ("coqa", "quac", "squad_v2"):
        assert by_kind[name] == ("generate", "f1")
    assert by_kind["drop"] == ("generate_drop", "f1")          # DROP's own F1
    assert by_kind["multirc"] == ("rank_grouped", "f1a")      # SuperGLUE's F1a, then EM
    assert REGISTRY.get("multirc").metrics == ("f1a", "exact_match")
    assert REGISTRY.get("cb").metrics == ("accuracy", "f1_macro")      # as GPT-3 reports CB
    assert sum(kind == "rank" for kind, _ in by_kind.values()) == 20
    assert all(m == "accuracy" for k, m in by_kind.values() if k == "rank")


def _split_sources(task):
    """{task split: (source, that source's split)} of the task's eval and few-shot splits."""
    out = {}
    for split in dict.fromkeys((task.eval_split, task.few_shot_split)):
        source, inner = task.source, split
        if isinstance(source, SplitSources):
            source, inner = source.part(split)
        out[split] = (source, source.tfds_split(inner) if isinstance(source, TfdsSource)
                      else inner)
    return out


def _tfds_splits(task):
    return {split: (source, inner) for split, (source, inner) in _split_sources(task).items()
            if isinstance(source, TfdsSource)}


def test_tfds_names_pin_the_installed_builder_versions():
    for task in GLAM_TASKS:
        for source, _ in _tfds_splits(task).values():
            name, _, version = source.name.partition(":")
            assert version and str(tfds.builder(name).version) == version, task.name


def test_only_data_tfds_loses_is_read_from_release_files():
    manual = {t.name: sorted(split for split, (source, _) in _split_sources(t).items()
                             if isinstance(source, ManualFileSource)) for t in GLAM_TASKS}
    assert {name: splits for name, splits in manual.items() if splits} == {
        "lambada": ["test"], "coqa": ["validation"], "quac": ["train", "validation"],
        "drop": ["validation"]}


class _NoDownloads:
    """A download manager that hands out paths and fetches nothing."""

    manual_dir = epath.Path("/nonexistent/manual")

    def download_and_extract(self, urls, *args, **kwargs):
        if isinstance(urls, dict):
            return {k: self.download_and_extract(v) for k, v in urls.items()}
        return epath.Path("/nonexistent/download")

    download = extract = download_and_extract


def test_eval_and_few_shot_splits_are_splits_the_builder_generates():
    # `_split_generators` only names the splits here: nothing is downloaded or read.
    for task in GLAM_TASKS:
        for split, (source, tfds_split) in _tfds_splits(task).items():
            generators = tfds.builder(source.name)._split_generators(_NoDownloads())
            names = {str(getattr(g, "name", g)) for g in generators}
            assert tfds_split in names, (task.name, split, names)


def test_normalization_is_gpt3s_per_token_except_unconditional_on_arc_openbookqa_and_race():
    prior = {t.name: t.unconditional_context for t in GLAM_TASKS if t.unconditional_context}
    # The answer context is the word before the answer in the task's own prompt.
    assert prior == {"arc_easy": "Answer:", "arc_challenge": "Answer:",
                     "openbookqa": "Answer:", "race_m": "A:", "race_h": "A:"}
    ranked = {t.name: t.normalization for t in GLAM_TASKS if t.scorer.rank}
    assert len(ranked) == 21
    assert ranked == {name: "unconditional" if name in prior else "token" for name in ranked}
    assert all(t.normalization is None for t in GLAM_TASKS if not t.scorer.rank)


def test_eval_splits_are_the_ones_the_papers_report():
    def where(task, split):
        source, inner = _split_sources(task)[split]
        return source.describe(inner)

    splits = {t.name: tuple(s for _, s in _split_sources(t).values()) for t in GLAM_TASKS}
    lambada, coqa = REGISTRY.get("lambada"), REGISTRY.get("coqa")
    assert where(lambada, "test") == "manual lambada_test.jsonl"  # OpenAI's test text
    assert where(lambada, "validation") == "tfds lambada:1.0.0[train]"  # LAMBADA's dev file
    assert where(coqa, "validation") == "manual coqa-dev-v1.0.json"
    assert where(coqa, "train") == "tfds coqa:1.0.0[train]"
    drop = REGISTRY.get("drop")
    assert where(drop, "validation") == "manual drop_dataset_dev.json"  # every span, whole dates
    assert where(drop, "train") == "tfds drop:2.0.0[train]"
    assert splits["story_cloze"] == ("test", "validation")
    assert splits["winogrande"] == ("validation", "train_xl")
    assert splits["race_h"] == ("test", "train") and splits["anli_r3"] == ("validation", "train")
    assert all(splits[n] == ("validation", "train") for n in
               ("boolq", "cb", "copa", "rte", "wic", "wsc", "multirc", "record", "piqa"))
    assert [t.name for t in GLAM_TASKS if t.shots_from_eval_split] == ["winograd"]


def _truncate(ex, *keys):
    n = min(len(_get(ex, k)) for k in keys)
    for k in keys:
        _set(ex, k, _get(ex, k)[:n])
    return n


def _get(ex, key):
    for part in key.split("."):
        ex = ex[part]
    return ex


def _set(ex, key, value):
    *path, last = key.split(".")
    for part in path:
        ex = ex[part]
    ex[last] = value


def _repair_arc(ex):
    n = min(_truncate(ex, "choices.text", "choices.label"), 5)
    ex["choices"] = {"text": ex["choices"]["text"][:n], "label": list(range(n))}
    ex["answerKey"] %= n


def _repair_race(ex):
    n = _truncate(ex, "questions", "answers", "options")
    ex["options"] = [o[:4] for o in ex["options"]]
    ex["answers"] = ["ABCD"[i % 4] for i in range(n)]


_MOCK_REPAIRS = {
    "story_cloze": lambda ex: ex.update(label=ex["label"] % 2 + 1),  # TFDS labels are 1, 2
    "winogrande": lambda ex: ex.update(sentence=ex["sentence"] + " _ ends it."),
    "arc_easy": _repair_arc,
    "arc_challenge": _repair_arc,
    "coqa": lambda ex: _truncate(ex, "questions", "answers.input_text"),
    "race_m": _repair_race,
    "race_h": _repair_race,
    "copa": lambda ex: ex.update(question="effect"),
    "record": lambda ex: ex.update(query=ex["query"] + " @placeholder",
                                   answers=ex["entities"][:1]),
}


def _mock_formatted(task, split):
    """Formats mock examples of the real builder as Task.formatted does, after repairs."""
    located = list(task.source.located(split))
    for _, example in located:
        _MOCK_REPAIRS.get(task.name, lambda ex: None)(example)
    return list(task.format_located(located))


@pytest.fixture
def mock_tfds():
    # max_value=2 keeps plain int labels (HellaSwag, WSC273) within their candidates.
    with tfds.testing.mock_data(num_examples=2, max_value=2,
                                policy=tfds.testing.MockPolicy.USE_CODE):
        yield


@pytest.mark.parametrize("name", [t.name for t in GLAM_TASKS if _tfds_splits(t)])
def test_every_glam_task_formats_mock_examples_of_its_real_tfds_builder(name, mock_tfds):
    task = REGISTRY.get(name)
    for split in _tfds_splits(task):
        examples = _mock_formatted(task, split)
        assert examples, split
        for f in examples:
            if task.scorer.rank:
                assert f.label is not None and 0 <= f.label < len(f.candidates)
                assert all(context.strip() and continuation.strip()
                           for context, continuation in f.pairs())
            else:
                assert f.prompt.strip() and f.answers and all(a for a in f.answers)
        shots = task.with_shots(examples[0], examples[1:])
        assert shots.prompt.startswith(task.demonstration(examples[1]) + task.shot_separator)


@pytest.mark.parametrize("name, message", [
    ("winogrande", "field 'sentence': a WinoGrande sentence must hold exactly one blank"),
    ("arc_easy", "field 'choices.text': parallel lists differ in length"),
    ("copa", "field 'question': .* is neither 'cause' nor 'effect'"),
    ("record", "field 'query': a ReCoRD query must hold @placeholder"),
])
def test_formatters_reject_examples_breaking_the_datasets_rules(name, message, mock_tfds):
    task = REGISTRY.get(name)
    with pytest.raises(TaskDataError, match=rf"tfds {task.source.name}\[.*\] #0: {message}"):
        list(task.formatted())


# -- hand-written examples: exact prompts -----------------------------------------------------

def test_boolq_prompt_and_yes_no_candidates():
    f = glam_tasks.format_boolq({"passage": "Cats purr.", "question": "do cats purr",
                                 "label": 1, "idx": 0})
    assert f.prompt == "Cats purr.\nquestion: do cats purr?\nanswer:"
    assert f.candidates == (" no", " yes") and f.label == 1


def test_winogrande_scores_the_rest_of_the_sentence_after_each_option():
    f = glam_tasks.format_winogrande({"sentence": "The trophy does not fit the case as _ is big.",
                                      "option1": "the trophy", "option2": "the case",
                                      "label": 0})
    assert f.pairs() == (("The trophy does not fit the case as the trophy", " is big."),
                         ("The trophy does not fit the case as the case", " is big."))
    assert f.label == 0


def test_winograd_substitutes_options_for_the_pronoun_with_possessives():
    text = "Tom gave Ray his book because his bag was full."
    start = text.index("his bag")
    f = glam_tasks.format_winograd({
        "text": text, "pronoun_start": start, "pronoun_end": start + 3, "pronoun_text": "his",
        "option1_normalized": "Tom", "option2_normalized": "Ray", "label": 1, "idx": 0,
        "option1": "Tom", "option2": "Ray"})
    assert f.pairs()[1] == ("Tom gave Ray his book because Ray's", " bag was full.")


def test_triviaqa_keeps_every_alias_as_a_gold_answer():
    f = glam_tasks.format_triviaqa({"question": "Capital of France?", "answer": {
        "value": "Paris", "aliases": ["Paris", "Paris, France", " "]}})
    assert f.prompt == "Q: Capital of France?\nA:" and f.answers == ("Paris", "Paris, France")


def test_unanswerable_squad_questions_have_the_no_answer_gold():
    squad = glam_tasks.format_squad_v2({
        "title": "T", "context": "C.", "question": "Q?", "id": "1", "is_impossible": True,
        "answers": {"text": [], "answer_start": []},
        "plausible_answers": {"text": ["x"], "answer_start": [0]}})
    assert squad.answers == (NO_ANSWER,)
    assert REGISTRY.get("squad_v2").no_answer == REGISTRY.get("quac").no_answer == NO_ANSWER


def test_record_accepts_every_surface_form_of_the_answer():
    f = glam_tasks.format_record({
        "passage": "The U.S. and the United States met.\n@highlight\nA summit",
        "query": "@placeholder hosted the talks", "entities": ["Canada", "U.S.", "United States"],
        "answers": ["U.S.", "United States"], "idx": {"passage": 0, "query": 0}})
    assert f.prompt == "The U.S. and the United States met.\n\n  - A summit.\n"
    assert f.candidates[1] == "  - U.S. hosted the talks"
    assert f.correct_labels == (1, 2)


# -- StoryCloze: manual data ------------------------------------------------------------------

def _write_story_cloze_csvs(folder):
    header = ["InputStoryid", "InputSentence1", "InputSentence2", "InputSentence3",
              "InputSentence4", "RandomFifthSentenceQuiz1", "RandomFifthSentenceQuiz2",
              "AnswerRightEnding"]
    row = ["s1", "Tom was hungry.", "He opened the fridge.", "It was empty.",
           "He went to the store.", "He flew to Mars.", "He bought food.", "2"]
    os.makedirs(folder)
    for name in glam_tasks.STORY_CLOZE_FILES:
        with open(os.path.join(folder, name), "w", newline="") as f:
            csv.writer(f).writerows([header, row])


def test_story_cloze_reads_data_prepared_from_a_manual_dir(tmp_path):
    # The real builder on hand-written CSVs: no network, no mock.
    _write_story_cloze_csvs(tmp_path / "manual")
    task = REGISTRY.get("story_cloze")
    source = TfdsSource(task.source.name, data_dir=str(tmp_path / "data"),
                        manual_instructions=task.source.manual_instructions)
    source.prepare(manual_dir=str(tmp_path / "manual"))
    [f] = list(dataclasses.replace(task, source=source).eval_examples())
    assert f.prompt == "Tom was hungry. He opened the fridge. It was empty. He went to the store."
    assert f.candidates == (" He flew to Mars.", " He bought food.") and f.label == 1


def test_story_cloze_without_data_says_how_to_provide_it(tmp_path):
    source = TfdsSource(REGISTRY.get("story_cloze").source.name, data_dir=str(tmp_path),
                        manual_instructions=glam_tasks.STORY_CLOZE_INSTRUCTIONS)
    with pytest.raises(TaskDataError) as info:
        next(source.examples("test"))
    message = str(info.value)
    assert "manual_dir" in message and "tfds build story_cloze/2016 --manual_dir" in message
    assert all(name in message for name in glam_tasks.STORY_CLOZE_FILES)


def test_a_missing_tfds_dataset_is_never_downloaded(tmp_path):
    source = TfdsSource("super_glue/boolq:1.0.2", data_dir=str(tmp_path))
    with pytest.raises(TaskDataError, match=r"not prepared on disk.*tfds build super_glue/boolq"):
        next(source.examples("validation"))
    assert not any(tmp_path.iterdir())
