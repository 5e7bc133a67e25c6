"""Readers of the release files that TFDS's builders change, and where to put them.

TFDS's `quac` keeps no dialogue order, its `coqa` keeps one reference answer
per turn, its `drop` keeps only the first span of an answer and writes a
day-less date as "", and its `lambada` is not OpenAI's text; these tasks read the
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

DROP_INSTRUCTIONS = (
    "DROP's dev set is read from its release file, which has every span of a "
    "multi-span answer and whole dates (TFDS's drop keeps the first span only): "
    "download drop_dataset.zip, the archive TFDS's drop downloads "
    "(https://s3-us-west-2.amazonaws.com/allennlp/datasets/drop/drop_dataset.zip), and take "
    "drop_dataset/drop_dataset_dev.json from it. " + _MANUAL)


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


def drop_answer_spans(answer) -> tuple[str, ...]:
    """One answer of DROP's release as the official script's strings (answer_json_to_strings).

    A number is its one string; spans are the tuple of spans (several for a
    multi-span answer); otherwise the date, "{day} {month} {year}" (the script's
    format; an empty part leaves only extra spaces, which its normalization
    drops, so the parts that are there are joined here). Checked in that order.
    An answer with none of them is ("",), which the script ignores as gold.
    """
    if not isinstance(answer, dict):
        raise TaskDataError(f"an answer must be a JSON object, not {answer!r}", field="answer")
    number, spans, date = answer["number"], answer["spans"], answer["date"]
    if not isinstance(spans, list) or not all(isinstance(s, str) for s in spans):
        raise TaskDataError(f"spans must be a list of str, not {spans!r}", field="spans")
    if number:
        return (str(number),)
    if spans:
        return tuple(spans)
    if not isinstance(date, dict):
        raise TaskDataError(f"date must be a JSON object, not {date!r}", field="date")
    return (" ".join(str(date[k]).strip() for k in ("day", "month", "year")
                     if str(date[k]).strip()),)


def drop_questions(document):
    """DROP's drop_dataset_dev.json -> one example per question, every gold answer as spans.

    Gold answers are `answer` and then every `validated_answers` entry, as the
    official script compares them (`gold_spans`, one tuple of spans each).
    """
    if not isinstance(document, dict):
        raise TaskDataError("the file must be a JSON object {passage_id: {...}}",
                            field="passage_id")
    for passage_id, passage in document.items():
        for qa in passage["qa_pairs"]:
            golds = [qa["answer"]] + list(qa.get("validated_answers") or [])
            yield {"passage_id": passage_id, "passage": passage["passage"],
                   "question": qa["question"], "query_id": qa["query_id"],
                   "gold_spans": [list(drop_answer_spans(a)) for a in golds]}
