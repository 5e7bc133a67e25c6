"""GPT-3's per-task formats where they differ from one question per prompt.

LAMBADA's fill-in-the-blank form; dialogue history for QuAC, CoQA and RACE;
the bare OpenBookQA stem; TriviaQA's repeated questions; WSC273's twin
schemas kept out of each other's shots. Release files are written here in
each dataset's own layout and read as the tasks read them.
"""

import dataclasses
import json
import os

import pytest

from offline_tfds import offline_build
from glam_tf.evaluation.backends import Backend
from glam_tf.evaluation.evaluator import build_prompts, evaluate
from glam_tf.tasks import (NO_ANSWER, REGISTRY, CallableSource, ManualFileSource, SplitSources,
                           TaskDataError, TfdsSource, glam_tasks)


def _with_manual_dir(task, folder):
    """`task` reading its release files from `folder` (TFDS parts unchanged)."""
    def moved(source):
        if isinstance(source, ManualFileSource):
            return dataclasses.replace(source, manual_dir=str(folder))
        if isinstance(source, SplitSources):
            return SplitSources(tuple((s, moved(p), inner) for s, p, inner in source.parts))
        return source
    return dataclasses.replace(task, source=moved(task.source))


# -- LAMBADA ----------------------------------------------------------------------------------

def test_lambada_uses_gpt3s_blank_form_and_keeps_a_leading_quote_in_the_passage():
    quoted = glam_tasks.format_lambada({"text": 'She turned and said, "Logan'})
    assert quoted.prompt == 'She turned and said, "____. ->' and quoted.answers == ("Logan",)
    plain = glam_tasks.format_lambada({"text": "there's more than a step"})
    assert plain.prompt == "there's more than a ____. ->" and plain.answers == ("step",)
    task = REGISTRY.get("lambada")
    assert task.demonstration(plain) == "there's more than a ____. -> step"


def test_lambada_detokenizes_the_tfds_dev_text_used_for_shots():
    f = glam_tasks.format_lambada(
        {"passage": "`` do n't go , '' he said . she 's sure it was a step\n"})
    assert f.prompt == "\"don't go,\" he said. she's sure it was a ____. ->"
    assert f.answers == ("step",)


def test_lambada_reads_openais_text_from_the_manual_folder(tmp_path):
    lines = [{"text": "He handed her the old brass key"}, {"text": 'She said, "Logan'}]
    (tmp_path / "lambada_test.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    task = _with_manual_dir(REGISTRY.get("lambada"), tmp_path)
    assert [f.answers for f in task.eval_examples()] == [("key",), ("Logan",)]


def test_missing_release_file_says_where_to_put_it(tmp_path):
    task = _with_manual_dir(REGISTRY.get("lambada"), tmp_path)
    with pytest.raises(TaskDataError) as info:
        list(task.eval_examples())
    message = str(info.value)
    assert message.startswith(str(tmp_path / "lambada_test.jsonl") + ": no such file.")
    assert "OpenAI's detokenized test text" in message and "downloads/manual" in message


# -- dialogue history -------------------------------------------------------------------------

_QUAC_CONTEXT = "Perry joined the Bears in 1985. He retired in 1994. CANNOTANSWER"


def _quac_release():
    def qa(question, answer, start):
        return {"question": question, "id": question, "followup": "y", "yesno": "x",
                "orig_answer": {"text": answer, "answer_start": start},
                "answers": [{"text": answer, "answer_start": start}]}
    return {"data": [{"title": "William Perry", "section_title": "Career", "background": "B.",
                      "paragraphs": [{"id": "C_1", "context": _QUAC_CONTEXT, "qas": [
                          qa("what team did he join?", "the Bears", 13),
                          qa("was he happy?", "CANNOTANSWER", 52),
                          qa("when did he retire?", "in 1994", 42)]}]}]}


def test_quac_questions_follow_the_dialogue_so_far_in_order(tmp_path):
    for name in ("val_v0.2.json", "train_v0.2.json"):
        (tmp_path / name).write_text(json.dumps(_quac_release(), indent=1))
    task = _with_manual_dir(REGISTRY.get("quac"), tmp_path)
    turns = list(task.eval_examples())
    assert [t.answers for t in turns] == [("the Bears",), (NO_ANSWER,), ("in 1994",)]
    assert turns[2].prompt == (
        "TITLE: William Perry -- Career\nPARAGRAPH: Perry joined the Bears in 1985. "
        "He retired in 1994.\n\nQ: what team did he join?\nA: the Bears\n\n"
        f"Q: was he happy?\nA: {NO_ANSWER}\n\nQ: when did he retire?\nA:")
    assert len(list(task.few_shot_examples())) == 3


def test_a_release_file_breaking_its_format_is_one_error_naming_it(tmp_path):
    (tmp_path / "val_v0.2.json").write_text(json.dumps({"data": [{"title": "T"}]}))
    task = _with_manual_dir(REGISTRY.get("quac"), tmp_path)
    with pytest.raises(TaskDataError, match=r"val_v0.2.json: field 'paragraphs': "
                                            r"a record of the file lacks this field$"):
        list(task.eval_examples())
    (tmp_path / "val_v0.2.json").write_text(json.dumps({"data": ["not a record"]}))
    with pytest.raises(TaskDataError, match=r"val_v0.2.json: the file does not have its "
                                            r"release's layout"):
        list(task.eval_examples())
    (tmp_path / "val_v0.2.json").write_text("{not json")
    with pytest.raises(TaskDataError, match=r"val_v0.2.json: not valid JSON"):
        list(task.eval_examples())


def test_coqa_turns_follow_the_earlier_turns_and_accept_every_reference_answer(tmp_path):
    def turns(*texts):
        return [{"turn_id": i + 1, "input_text": t, "span_start": 0, "span_end": 0}
                for i, t in enumerate(texts)]
    story = {"id": "s1", "source": "mctest", "story": "Ann has a cat named Tom.",
             "questions": turns("Who has a cat?", "What is its name?"),
             "answers": turns("Ann", "Tom"),
             "additional_answers": {"0": turns("Ann.", "It is Tom"), "1": turns("ann", "Tom")}}
    (tmp_path / "coqa-dev-v1.0.json").write_text(json.dumps({"version": "1.0", "data": [story]}))
    task = _with_manual_dir(REGISTRY.get("coqa"), tmp_path)
    first, second = task.eval_examples()
    assert first.answers == ("Ann", "Ann.", "ann")
    assert second.prompt == "Ann has a cat named Tom.\n\nQ: Who has a cat?\nA: Ann\n\n" \
                            "Q: What is its name?\nA:"
    assert second.answers == ("Tom", "It is Tom")


def test_race_questions_follow_the_articles_earlier_questions_with_their_answers():
    article = {"article": "Mrs. Smith asked her class to bring potatoes.", "example_id": "1",
               "questions": ["Who asked?", "She asked them to bring _ ."],
               "answers": ["B", "A"],
               "options": [["a boy", "Mrs. Smith", "a cook", "Tom"],
                           ["potatoes", "bags", "books", "pens"]]}
    first, second = [glam_tasks.format_race(q) for q in glam_tasks.split_race_questions(article)]
    assert first.prompt == "Article: Mrs. Smith asked her class to bring potatoes.\n\n" \
                           "Q: Who asked?\nA:"
    assert second.prompt == "Article: Mrs. Smith asked her class to bring potatoes.\n\n" \
                            "Q: Who asked?\nA: Mrs. Smith\n\nQ: She asked them to bring _ .\nA:"
    assert (first.label, second.label) == (1, 0) and second.candidates[0] == " potatoes"


# -- one-question formats ---------------------------------------------------------------------

def test_openbookqa_scores_the_bare_question_stem():
    f = glam_tasks.format_openbookqa({"id": "1", "answerKey": 0, "question": {
        "stem": "Organisms require energy in order to do what?", "choice_A": "mature and develop",
        "choice_B": "rest soundly", "choice_C": "absorb light", "choice_D": "take in nutrients"}})
    assert f.prompt == "Organisms require energy in order to do what?"
    assert f.candidates[0] == " mature and develop" and f.label == 0


def _squad(question, answers):
    return {"id": question, "title": "The Blitz", "context": "The Luftwaffe flew inland "
            "missions only on moonlit nights.", "question": question,
            "is_impossible": not answers,
            "answers": {"text": answers, "answer_start": [0] * len(answers)},
            "plausible_answers": {"text": [], "answer_start": []}}


class _Says(Backend):
    """Generates the same text for every prompt."""

    def __init__(self, text):
        self.text = text

    def _generate_batch(self, prompts, max_new_tokens):
        return [self.text] * len(prompts)


def test_squad_v2_prompt_and_an_immediate_newline_is_an_abstention():
    examples = [_squad("When did they fly inland?", ["only on moonlit nights"]),
                _squad("Who flew the Spitfires?", [])]
    task = dataclasses.replace(REGISTRY.get("squad_v2"),
                               source=CallableSource(lambda split: examples))
    answerable, _ = task.eval_examples()
    assert answerable.prompt == ("Title: The Blitz\n\nBackground: The Luftwaffe flew inland "
                                 "missions only on moonlit nights.\n\n"
                                 "Q: When did they fly inland?\n\nA:")
    abstains = evaluate(task, _Says("\nonly on moonlit nights"))
    assert [p["prediction"] for p in abstains["predictions"]] == ["", ""]
    assert [p["f1"] for p in abstains["predictions"]] == [0.0, 1.0]
    answers = evaluate(task, _Says(" only on moonlit nights\nQ:"))
    assert [p["f1"] for p in answers["predictions"]] == [1.0, 0.0]


def test_lambada_scores_the_word_after_a_quote(tmp_path):
    (tmp_path / "lambada_test.jsonl").write_text(json.dumps({"text": 'She said, "Logan'}))
    task = _with_manual_dir(REGISTRY.get("lambada"), tmp_path)
    result = evaluate(task, _Says(' Logan." she'))
    assert result["predictions"][0]["prediction"] == "Logan"
    assert result["metrics"]["exact_match"] == 1.0


def test_wic_uses_gpt3s_words():
    f = glam_tasks.format_wic({"sentence1": "An outfitter provided everything.",
                               "sentence2": "He went to a specialist outfitter.",
                               "word": "outfitter", "label": 0, "idx": 0, "start1": 0,
                               "start2": 0, "end1": 0, "end2": 0})
    assert f.prompt == ("An outfitter provided everything.\nHe went to a specialist outfitter."
                        "\nquestion: Is the word 'outfitter' used in the same way in the two "
                        "sentences above?\nanswer:")
    assert f.candidates == (" no", " yes")


def _triviaqa_file(path, records):
    # The builder cuts records at lines "        {" and "        }": the release's indent.
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(json.dumps({"Data": records, "Domain": "Web", "Version": 1.0}, indent=4) + "\n")


def _trivia_record(qid, question, answer):
    return {"Question": question, "QuestionId": qid, "QuestionSource": "http://x",
            "EntityPages": [], "SearchResults": [],
            "Answer": {"Aliases": [answer], "NormalizedAliases": [answer.lower()],
                       "NormalizedValue": answer.lower(), "Type": "WikipediaEntity",
                       "Value": answer}}


def test_triviaqa_keeps_each_question_of_the_web_and_wiki_dev_files_once(tmp_path):
    release = tmp_path / "release"
    both = [_trivia_record("tc_1", "Capital of France?", "Paris"),
            _trivia_record("tc_2", "Largest planet?", "Jupiter")]
    for name, records in {"web-dev.json": both + [_trivia_record("tc_3", "Red planet?", "Mars")],
                          "wikipedia-dev.json": both, "web-train.json": both,
                          "wikipedia-train.json": both,
                          "web-test-without-answers.json": both}.items():
        _triviaqa_file(str(release / "qa" / name), records)
    task = REGISTRY.get("triviaqa")
    offline_build(task.source.name, str(release), str(tmp_path / "tfds"))
    everything = TfdsSource(task.source.name, data_dir=str(tmp_path / "tfds"))
    assert len(list(everything.examples("validation"))) == 5  # TFDS: both files, repeats kept
    task = dataclasses.replace(task, source=dataclasses.replace(
        task.source, data_dir=str(tmp_path / "tfds")))
    assert sorted(f.prompt for f in task.eval_examples()) == [
        "Q: Capital of France?\nA:", "Q: Largest planet?\nA:", "Q: Red planet?\nA:"]


# -- WSC273 twins -----------------------------------------------------------------------------

def _wsc273(idx, text, pronoun, options, label):
    start = text.index(f" {pronoun} ") + 1
    return {"idx": idx, "text": text, "pronoun_start": start, "pronoun_end": start + len(pronoun),
            "pronoun_text": pronoun, "option1": options[0], "option2": options[1],
            "option1_normalized": options[0], "option2_normalized": options[1], "label": label}


_SCHEMAS = [
    _wsc273(0, "The trophy does not fit in the suitcase because it is too big.", "it",
            ("the trophy", "the suitcase"), 0),
    _wsc273(1, "The trophy does not fit in the suitcase because it is too small.", "it",
            ("The trophy", "the suitcase"), 1),
    _wsc273(2, "Joan thanked Susan for the help she had given.", "she", ("Joan", "Susan"), 1),
    _wsc273(3, "Joan thanked Susan for the help she had received.", "she", ("Joan", "Susan"), 0),
    _wsc273(4, "The man lifted the boy onto his shoulders.", "his", ("the man", "the boy"), 0),
    _wsc273(5, "The city refused the crowd a permit because they feared violence.", "they",
            ("the city", "the crowd"), 0),
]


def test_wsc273_shots_never_include_the_examples_twin_schema():
    task = REGISTRY.get("winograd")
    examples = [glam_tasks.format_winograd(x) for x in _SCHEMAS]
    twin = {0: 1, 1: 0, 2: 3, 3: 2}
    for seed in range(20):
        _, drawn, used, _ = build_prompts(task, examples, 3, seed, pool=examples)
        for i, shots in enumerate(drawn):
            assert i not in shots and twin.get(i) not in shots, (seed, i, shots)
            assert len(shots) == used[i] == 3  # 6 examples, at most 2 excluded


# -- DROP from its release file -------------------------------------------------------------

def _drop_answer(number="", spans=(), day="", month="", year=""):
    return {"number": number, "spans": list(spans),
            "date": {"day": day, "month": month, "year": year}}


def _drop_release():
    """Two passages in drop_dataset_dev.json's layout: a number, dates with and without a
    day, a multi-span answer, and a question whose every answer is empty."""
    def qa(qid, question, answer, *validated):
        return {"question": question, "query_id": qid, "answer": answer,
                "validated_answers": list(validated)}
    return {
        "nfl_1": {"passage": "The Bears beat the Lions by 7 on 15 March 1990. Walter Payton "
                             "and Jim McMahon scored.",
                  "qa_pairs": [
                      qa("q1", "By how many points did the Bears win?", _drop_answer("7"),
                         _drop_answer("7")),
                      qa("q2", "When was the game?", _drop_answer(day="15", month="March",
                                                                   year="1990"),
                         _drop_answer(month="March", year="1990")),
                      qa("q3", "Who scored?", _drop_answer(spans=["Walter Payton",
                                                                  "Jim McMahon"]),
                         _drop_answer(spans=["Payton", "McMahon"]))]},
        "history_2": {"passage": "The war ended in 1994.",
                      "qa_pairs": [
                          qa("q4", "When did the war end?", _drop_answer(year="1994"),
                             _drop_answer()),
                          qa("q5", "What is unknown?", _drop_answer())]},
    }


class _AnswersByQuestion(Backend):
    """Generates, for each prompt, the answer given for the question it ends with."""

    def __init__(self, answers):
        self.answers = answers

    def _generate_batch(self, prompts, max_new_tokens):
        return [" " + self.answers[p.rsplit("Question: ", 1)[1].split("\n")[0]] + "\n"
                for p in prompts]


def test_drop_scores_every_gold_answer_of_the_release_file_as_the_official_script(tmp_path):
    (tmp_path / "drop_dataset_dev.json").write_text(json.dumps(_drop_release()))
    task = _with_manual_dir(REGISTRY.get("drop"), tmp_path)
    examples = list(task.eval_examples())
    assert [f.answer_spans for f in examples] == [
        (("7",),), (("15 March 1990",), ("March 1990",)),   # a day-less date is kept
        (("Walter Payton", "Jim McMahon"), ("Payton", "McMahon")),  # every span
        (("1994",),), ()]                                   # empty answers left out
    assert examples[2].answers == ("Walter Payton, Jim McMahon", "Payton, McMahon")
    backend = _AnswersByQuestion({
        "By how many points did the Bears win?": "7 points", "When was the game?": "March 1990",
        "Who scored?": "Walter Payton", "When did the war end?": "in 1994",
        "What is unknown?": "nothing"})
    result = evaluate(task, backend)
    # By hand (tokens normalized, numbers as floats, one predicted bag):
    #   q1 {7.0, points} vs {7.0}: P 1/2, R 1 -> F1 0.67, EM 0.
    #   q2 "march 1990.0" equals the day-less gold: EM 1, F1 1 (vs the full date F1 0.8).
    #   q3 {walter, payton} vs two gold bags: (1 + 0) / 2 = 0.5; vs {payton}, {mcmahon}:
    #      0.67 / 2 = 0.33 -> best 0.5, EM 0 (TFDS's first span alone would give EM 1).
    #   q4 {in, 1994.0} vs {1994.0}: F1 0.67, EM 0.   q5: no gold answer, skipped.
    scored = [p for p in result["predictions"] if "skipped" not in p]
    assert [(p["exact_match"], p["f1"]) for p in scored] == [
        (0.0, 0.67), (1.0, 1.0), (0.0, 0.5), (0.0, 0.67)]
    assert result["skipped"] == {"no_gold": 1} and result["num_examples"] == 4
    assert result["metrics"] == {"f1": pytest.approx(2.84 / 4), "exact_match": 0.25}


def test_drop_shots_from_tfds_show_dates_as_the_official_script_writes_them():
    shot = glam_tasks.format_drop({"passage": "P.", "question": "When?",
                                   "answer": "1990-March-15", "validated_answers": ["", "x"]})
    assert shot.answers == ("15 March 1990", "x")
    assert REGISTRY.get("drop").demonstration(shot).endswith("Answer: 15 March 1990")


def test_drop_release_file_missing_or_out_of_layout_is_one_error_naming_it(tmp_path):
    task = _with_manual_dir(REGISTRY.get("drop"), tmp_path)
    with pytest.raises(TaskDataError, match=r"drop_dataset_dev.json: no such file\. DROP's dev "
                                            r"set is read from its release file.*downloads/"):
        list(task.eval_examples())
    broken = _drop_release()
    del broken["nfl_1"]["qa_pairs"][1]["answer"]["spans"]
    (tmp_path / "drop_dataset_dev.json").write_text(json.dumps(broken))
    with pytest.raises(TaskDataError, match=r"drop_dataset_dev.json: field 'spans': a record "
                                            r"of the file lacks this field$"):
        list(task.eval_examples())
