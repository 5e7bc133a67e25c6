"""Readers of the release files that TFDS's builders change, and where to put them.

TFDS's `quac` keeps no dialogue order, its `coqa` keeps one reference answer
per turn, and its `lambada` is not OpenAI's text; these tasks read the
datasets' own files instead, downloaded by hand into TFDS's manual folder
(`ManualFileSource`). Each reader turns a parsed release file into examples
for the task's preprocessor; a file out of its release's layout raises
TaskDataError (or KeyError/TypeError, which ManualFileSource reports as one).
"""

from __future__ import annotations

from glam_tf.tasks.sources import TaskDataError

_MANUAL = ("Put it in TFDS's manual folder (<TFDS data dir>/downloads/manual/, "
           "~/tensorflow_datasets/downloads/manual/ by default; `TFDS_DATA_DIR` moves it).")
LAMBADA_INSTRUCTIONS = (
    "LAMBADA is scored on OpenAI's detokenized test text, as GPT-3 was: download "
    "lambada_test.jsonl, OpenAI's file from its GPT-2 evaluation (5153 lines of "
    "{\"text\": ...}; lm-evaluation-harness's lambada_openai reads the same). " + _MANUAL)
QUAC_INSTRUCTIONS = (
    "QuAC is read from its own release files, which keep each dialogue's turns in "
    "order (TFDS's quac does not): download train_v0.2.json and val_v0.2.json from "
    "https://quac.ai/ . " + _MANUAL)
COQA_INSTRUCTIONS = (
    "CoQA's dev set is read from its release file, which has every reference answer "
    "(TFDS's coqa keeps one): download coqa-dev-v1.0.json from "
    "https://stanfordnlp.github.io/coqa/ . " + _MANUAL)


def _release_data(document) -> list:
    if not isinstance(document, dict) or not isinstance(document.get("data"), list):
        raise TaskDataError('the file must be a JSON object with a "data" list', field="data")
    return document["data"]


def coqa_stories(document):
    """CoQA's release JSON -> TFDS-shaped stories, plus each turn's extra reference answers."""
    for row in _release_data(document):
        questions = sorted(row["questions"], key=lambda q: q["turn_id"])
        answers = sorted(row["answers"], key=lambda a: a["turn_id"])
        turn_ids = [q["turn_id"] for q in questions]
        if [a["turn_id"] for a in answers] != turn_ids:
            raise TaskDataError(f"story {row.get('id')!r}: its questions and answers are "
                                "not the same turns", field="answers")
        extra = [[] for _ in turn_ids]
        for references in row.get("additional_answers", {}).values():
            by_turn = {a["turn_id"]: a["input_text"] for a in references}
            for i, turn in enumerate(turn_ids):
                if turn in by_turn:
                    extra[i].append(by_turn[turn])
        yield {"story": row["story"], "source": row.get("source", ""),
               "questions": [q["input_text"] for q in questions],
               "answers": {"input_text": [a["input_text"] for a in answers]},
               "additional_answers": extra}


def quac_dialogues(document):
    """QuAC's release JSON -> one dict per dialogue (a section), its turns in order."""
    for article in _release_data(document):
        for paragraph in article["paragraphs"]:
            yield {"title": article["title"], "section_title": article["section_title"],
                   "context": paragraph["context"],
                   "turns": [{"question": qa["question"],
                              "answer": qa["orig_answer"]["text"],
                              "answers": [a["text"] for a in qa["answers"]]}
                             for qa in paragraph["qas"]]}
