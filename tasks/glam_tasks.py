"""The 29 few-shot benchmarks of the GLaM paper, registered in REGISTRY on import.

Prompts follow the GPT-3 paper's appendix formats (as also used by the
EleutherAI evaluation harness). Fields are those of the TFDS builders of
tensorflow-datasets 4.9 (`tfds.builder(name).info.features`). Eval splits are
the ones the papers report (validation/dev where test labels are hidden);
shots come from the training split unless noted.

Notes per task (docs/evaluation.md, "Task formats", has each prompt):
  lambada      scored on OpenAI's detokenized test text (`lambada_test.jsonl`, a
               manual download: LAMBADA_INSTRUCTIONS); shots from TFDS "train",
               which is LAMBADA's dev file (tokenized, lower case: detokenized
               here). GPT-3's fill-in-the-blank form at every shot count.
  story_cloze  manual download, see STORY_CLOZE_INSTRUCTIONS; labels are 1-based in TFDS.
  winograd     WSC273 has a test split only: shots come from it too, never the
               example itself nor its twin schema (`Formatted.shot_group`).
  winograd, winogrande
               partial scoring: each candidate's context ends with its option
               substituted for the blank/pronoun; the continuation (the rest of
               the sentence) is the same for both (`Formatted.candidate_prompts`).
  drop         the dev set from DROP's own drop_dataset_dev.json (every span of a
               multi-span answer, whole dates: `release_files.drop_questions`);
               shots from TFDS's train split (first span only, dates rewritten).
  coqa, quac, race_*
               one story, dialogue or article becomes one example per question,
               after the earlier questions with their gold answers. TFDS keeps
               neither QuAC's turn order nor CoQA's extra dev answers: both read
               the datasets' own JSON (`release_files`).
  squad_v2, quac
               unanswerable questions have the gold answer NO_ANSWER.
  triviaqa     TFDS rc.nocontext validation is the web and wiki dev files
               together: each question is kept once (`TfdsSource.unique_field`).
  record       candidates are the query with each passage entity filled in;
               every entity among the answers is correct (`Formatted.accepted`).
"""

from __future__ import annotations

import dataclasses
import re

from glam_tf.tasks.registry import register
from glam_tf.evaluation.drop_metrics import official_date
from glam_tf.tasks.release_files import (COQA_INSTRUCTIONS, DROP_INSTRUCTIONS,
                                         LAMBADA_INSTRUCTIONS, QUAC_INSTRUCTIONS,
                                         coqa_stories, drop_questions, quac_dialogues)
from glam_tf.tasks.sources import (ManualFileSource, SkipExample, Source, SplitSources,
                                   TaskDataError, TfdsSource)
from glam_tf.tasks.task import (CLOZE_COMPLETION, COMMON_SENSE_REASONING, GENERATE,
                                GENERATE_DROP, NLI, NO_ANSWER, OPEN_DOMAIN_QA, RANK,
                                RANK_GROUPED, READING_COMPREHENSION, SUPERGLUE,
                                WINOGRAD_STYLE, Formatted, Task)

STORY_CLOZE_FILES = ("cloze_test_val__spring2016.csv", "cloze_test_test__spring2016.csv")
STORY_CLOZE_INSTRUCTIONS = (
    "StoryCloze (story_cloze/2016) needs a manual download: request the data at "
    "https://www.cs.rochester.edu/nlp/rocstories/ , save the Spring 2016 validation and test "
    f"CSV files as {STORY_CLOZE_FILES[0]} and {STORY_CLOZE_FILES[1]} in one folder DIR, "
    "then prepare once with `tfds build story_cloze/2016 --manual_dir DIR`, or "
    "`glam_tf.tasks.get('story_cloze').source.prepare(manual_dir=DIR)` (it passes "
    "tfds.download.DownloadConfig(manual_dir=DIR)); without --manual_dir TFDS looks in "
    "~/tensorflow_datasets/downloads/manual/.")

GENERATION_STOPS = ("\n",)
# LAMBADA's answer is one word: stop at the first space or punctuation after it.
WORD_STOPS = ("\n", " ", ".", ",", ";", ":", "!", "?", '"')


# -- helpers ------------------------------------------------------------------

def _label(value, count: int, field: str = "label", unlabelled=-1):
    """A class index; None for `unlabelled` (TFDS marks hidden labels -1)."""
    if unlabelled is not None and value == unlabelled:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
        raise TaskDataError(f"{value!r} is not a label of {count} classes", field=field)
    return value


def _unique(texts) -> tuple[str, ...]:
    """Non-empty texts, stripped, each once, in order."""
    return tuple(dict.fromkeys(t.strip() for t in texts if t and t.strip()))


def _equal_lengths(fields: dict) -> int:
    lengths = {name: len(value) for name, value in fields.items()}
    if len(set(lengths.values())) > 1:
        raise TaskDataError(f"parallel lists differ in length: {lengths}",
                            field=next(iter(lengths)))
    return next(iter(lengths.values()))


def _rank(prompt: str, options, label, **kw) -> Formatted:
    return Formatted(prompt=prompt, candidates=tuple(" " + o.strip() for o in options),
                     label=label, **kw)


# -- open-domain QA -----------------------------------------------------------

def format_triviaqa(ex: dict) -> Formatted:
    answer = ex["answer"]
    return Formatted(prompt=f"Q: {ex['question'].strip()}\nA:",
                     answers=_unique([answer["value"]] + list(answer["aliases"])))


def format_natural_questions(ex: dict) -> Formatted:
    question = ex["question"].strip()
    question = question if question.endswith("?") else question + "?"
    return Formatted(prompt=f"Q: {question}\nA:", answers=_unique(ex["answer"]))


def format_web_questions(ex: dict) -> Formatted:
    return Formatted(prompt=f"Q: {ex['question'].strip()}\nA:", answers=_unique(ex["answers"]))


# -- cloze and completion -----------------------------------------------------

# The TFDS text (LAMBADA's release) is tokenized: `` and '' for quotes, spaces
# around punctuation and clitics ("do n't", "he 's").
_DETOKENIZE = ((re.compile(r"``\s*"), '"'), (re.compile(r"\s*''"), '"'),
               (re.compile(r" (n't|'s|'re|'ve|'m|'ll|'d)\b"), r"\1"),
               (re.compile(r" ([.,;:!?)\]])"), r"\1"), (re.compile(r"([(\[]) "), r"\1"))
_LAST_WORD = re.compile(r"^(.*\S)\s+(\W*)(\w(?:\S*\w)?)\W*$", re.DOTALL)


def _detokenize(text: str) -> str:
    for pattern, replacement in _DETOKENIZE:
        text = pattern.sub(replacement, text)
    return text


def format_lambada(ex: dict) -> Formatted:
    """GPT-3's few-shot form: `passage without its last word ____. ->`, target the word.

    OpenAI's text (field "text") is used as it is; the TFDS text (field
    "passage") is detokenized first. Punctuation before the last word (an
    opening quote: `"Logan`) stays in the passage, before the blank.
    """
    if "text" in ex:
        passage = ex["text"]
    elif "passage" in ex:
        passage = _detokenize(ex["passage"])
    else:
        raise TaskDataError("a LAMBADA example needs 'text' (OpenAI's) or 'passage' (TFDS's)",
                            field="text")
    match = _LAST_WORD.match(passage.strip())
    if match is None:
        raise TaskDataError("a LAMBADA passage needs a context and a last word",
                            field="text" if "text" in ex else "passage")
    context, before, word = match.groups()
    return Formatted(prompt=f"{context} {before}____. ->", answers=(word,))


def _hellaswag_clean(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def format_hellaswag(ex: dict) -> Formatted:
    prompt = _hellaswag_clean(f"{ex['activity_label']}: {ex['context']}")
    endings = [_hellaswag_clean(e) for e in ex["endings"]]
    return _rank(prompt, endings, _label(ex["label"], len(endings)))


def format_story_cloze(ex: dict) -> Formatted:
    raw = ex["label"]  # 1 or 2 (the CSV's AnswerRightEnding, 1-based); -1 when absent
    label = None if raw == -1 else _label(raw - 1, len(ex["endings"]), unlabelled=None)
    return _rank(ex["context"].strip(), ex["endings"], label)


# -- Winograd-style -------------------------------------------------------------

def _partial(prefix: str, options, rest: str, label, field: str) -> Formatted:
    """Candidate i: context `prefix + options[i]`, continuation the rest of the sentence."""
    if not rest.strip():
        raise TaskDataError("nothing follows the blank/pronoun to score", field=field)
    continuation = " " + rest.strip()
    return Formatted(prompt=prefix, candidates=(continuation,) * len(options),
                     candidate_prompts=tuple(prefix + o for o in options), label=label)


_POSSESSIVES = ("my", "his", "her", "our", "their", "its")


def format_winograd(ex: dict) -> Formatted:
    text, start, end = ex["text"], ex["pronoun_start"], ex["pronoun_end"]
    if not 0 <= start < end <= len(text):
        raise TaskDataError(f"pronoun span {start}:{end} is outside the text",
                            field="pronoun_start")
    options = [ex["option1_normalized"], ex["option2_normalized"]]
    if ex["pronoun_text"].strip().lower() in _POSSESSIVES:
        options = [o + "'s" for o in options]
    formatted = _partial(text[:start], options, text[end:], _label(ex["label"], 2), "text")
    # The two sentences of a schema share their two candidates (and differ in a
    # word or two); unrelated schemas rarely do, and then exclude each other too.
    twins = "|".join(sorted(o.strip().lower() for o in (ex["option1_normalized"],
                                                           ex["option2_normalized"])))
    return dataclasses.replace(formatted, shot_group=twins)


def format_winogrande(ex: dict) -> Formatted:
    sentence = ex["sentence"]
    if sentence.count("_") != 1:
        raise TaskDataError("a WinoGrande sentence must hold exactly one blank '_'",
                            field="sentence")
    prefix, _, rest = sentence.partition("_")
    return _partial(prefix, [ex["option1"], ex["option2"]], rest, _label(ex["label"], 2),
                    "sentence")


# -- common-sense reasoning -----------------------------------------------------

def format_piqa(ex: dict) -> Formatted:
    return _rank(ex["goal"].strip(), [ex["sol1"], ex["sol2"]], _label(ex["label"], 2))


def format_arc(ex: dict) -> Formatted:
    texts, labels, key = ex["choices"]["text"], ex["choices"]["label"], ex["answerKey"]
    _equal_lengths({"choices.text": texts, "choices.label": labels})
    if key != -1 and key not in labels:
        raise TaskDataError(f"answer key {key} is none of the choice labels {labels}",
                            field="answerKey")
    return _rank(f"Question: {ex['question'].strip()}\nAnswer:", texts,
                 None if key == -1 else labels.index(key))


def format_openbookqa(ex: dict) -> Formatted:
    q = ex["question"]
    options = [q[f"choice_{letter}"] for letter in "ABCD"]
    return _rank(q["stem"].strip(), options, _label(ex["answerKey"], 4, "answerKey"))


# -- in-context reading comprehension ---------------------------------------

def _drop_golds(ex: dict) -> list:
    """Every gold answer of a DROP example as a tuple of spans, each once, empty ones left out.

    Release examples (`release_files.drop_questions`) carry `gold_spans`; TFDS's
    carry one string per answer, its dates rewritten as the official script writes them.
    """
    if "gold_spans" in ex:
        golds = [tuple(s.strip() for s in spans) for spans in ex["gold_spans"]]
    else:
        golds = [(official_date(a).strip(),)
                 for a in [ex["answer"]] + list(ex["validated_answers"])]
    # The official script ignores a gold answer whose first span is empty.
    return list(dict.fromkeys(g for g in golds if g and g[0]))


def format_drop(ex: dict) -> Formatted:
    golds = _drop_golds(ex)
    return Formatted(
        prompt=f"Passage: {ex['passage'].strip()}\nQuestion: {ex['question'].strip()}\nAnswer:",
        answers=tuple(", ".join(g) for g in golds), answer_spans=tuple(golds))


def _turns(history) -> str:
    """Earlier questions with their gold answers, as GPT-3 shows a dialogue."""
    return "".join(f"Q: {q.strip()}\nA: {a.strip()}\n\n" for q, a in history)


def split_coqa_turns(ex: dict):
    """One CoQA story -> one example per turn, after the earlier turns with their answers."""
    questions, answers = ex["questions"], ex["answers"]["input_text"]
    extra = ex.get("additional_answers", [[] for _ in questions])  # TFDS has none
    _equal_lengths({"questions": questions, "answers.input_text": answers,
                    "additional_answers": extra})
    for turn, question in enumerate(questions):
        yield {"story": ex["story"], "history": list(zip(questions[:turn], answers[:turn])),
               "question": question, "answers": [answers[turn]] + list(extra[turn])}


def format_coqa(ex: dict) -> Formatted:
    return Formatted(prompt=f"{ex['story'].strip()}\n\n{_turns(ex['history'])}"
                            f"Q: {ex['question'].strip()}\nA:",
                     answers=_unique(ex["answers"]))


_QUAC_NO_ANSWER = "CANNOTANSWER"


def _quac_gold(text: str) -> str:
    return NO_ANSWER if text.strip() == _QUAC_NO_ANSWER else text


def split_quac_turns(ex: dict):
    """One QuAC dialogue -> one example per turn, after the earlier turns with their answers."""
    turns = ex["turns"]
    for i, turn in enumerate(turns):
        history = [(t["question"], _quac_gold(t["answer"])) for t in turns[:i]]
        yield {"title": ex["title"], "section_title": ex["section_title"],
               "context": ex["context"], "history": history, "question": turn["question"],
               "answers": [turn["answer"]] + list(turn["answers"])}


def format_quac(ex: dict) -> Formatted:
    context = ex["context"].strip()
    if context.endswith(_QUAC_NO_ANSWER):  # QuAC appends it so that spans can point at it
        context = context[:-len(_QUAC_NO_ANSWER)].rstrip()
    prompt = (f"TITLE: {ex['title'].strip()} -- {ex['section_title'].strip()}\n"
              f"PARAGRAPH: {context}\n\n{_turns(ex['history'])}Q: {ex['question'].strip()}\nA:")
    return Formatted(prompt=prompt, answers=_unique(_quac_gold(g) for g in ex["answers"]))


def format_squad_v2(ex: dict) -> Formatted:
    answers = (NO_ANSWER,) if ex["is_impossible"] else _unique(ex["answers"]["text"])
    prompt = (f"Title: {ex['title'].strip()}\n\nBackground: {ex['context'].strip()}\n\n"
              f"Q: {ex['question'].strip()}\n\nA:")
    return Formatted(prompt=prompt, answers=answers)


_RACE_LETTERS = "ABCDEFGH"


def _race_answer(answer: str, options) -> int:
    answer, letters = answer.strip(), _RACE_LETTERS[:len(options)]
    if len(answer) != 1 or answer not in letters:
        raise TaskDataError(f"answer {answer!r} is not one of the option letters "
                            f"{', '.join(letters)}", field="answers")
    return letters.index(answer)


def split_race_questions(ex: dict):
    """One RACE article -> one example per question, after the earlier ones with their answers."""
    _equal_lengths({"questions": ex["questions"], "answers": ex["answers"],
                    "options": ex["options"]})
    history = []
    for question, answer, options in zip(ex["questions"], ex["answers"], ex["options"]):
        yield {"article": ex["article"], "history": list(history), "question": question,
               "answer": answer, "options": options}
        history.append((question, options[_race_answer(answer, options)]))


def format_race(ex: dict) -> Formatted:
    options = ex["options"]
    return _rank(f"Article: {ex['article'].strip()}\n\n{_turns(ex['history'])}"
                 f"Q: {ex['question'].strip()}\nA:", options, _race_answer(ex["answer"], options))


# -- SuperGLUE ------------------------------------------------------------------

def format_boolq(ex: dict) -> Formatted:
    question = ex["question"].strip()
    return Formatted(prompt=f"{ex['passage'].strip()}\nquestion: {question}?\nanswer:",
                     candidates=(" no", " yes"), label=_label(ex["label"], 2))


def format_cb(ex: dict) -> Formatted:  # classes: entailment, contradiction, neutral
    return Formatted(prompt=f"{ex['premise'].strip()}\nquestion: {ex['hypothesis'].strip()} "
                            "true, false, or neither?\nanswer:",
                     candidates=(" true", " false", " neither"), label=_label(ex["label"], 3))


def format_copa(ex: dict) -> Formatted:
    connector = {"cause": "because", "effect": "therefore"}.get(ex["question"])
    if connector is None:
        raise TaskDataError(f"{ex['question']!r} is neither 'cause' nor 'effect'",
                            field="question")
    premise = ex["premise"].strip()
    premise = premise[:-1] if premise.endswith(".") else premise
    choices = [c.strip() for c in (ex["choice1"], ex["choice2"])]
    choices = [c[:1].lower() + c[1:] for c in choices]
    return _rank(f"{premise} {connector}", choices, _label(ex["label"], 2))


def format_rte(ex: dict) -> Formatted:  # classes: entailment, not_entailment
    return Formatted(prompt=f"{ex['premise'].strip()}\nquestion: {ex['hypothesis'].strip()} "
                            "True or False?\nanswer:",
                     candidates=(" True", " False"), label=_label(ex["label"], 2))


def format_wic(ex: dict) -> Formatted:
    return Formatted(
        prompt=f"{ex['sentence1'].strip()}\n{ex['sentence2'].strip()}\n"
               f"question: Is the word '{ex['word'].strip()}' used in the same way in the two "
               "sentences above?\nanswer:",
        candidates=(" no", " yes"), label=_label(ex["label"], 2))


def format_wsc(ex: dict) -> Formatted:
    words = ex["text"].split(" ")
    index = ex["span2_index"]
    if not 0 <= index < len(words):
        raise TaskDataError(f"word index {index} is outside the text's {len(words)} words",
                            field="span2_index")
    words[index] = f"*{words[index]}*"
    return Formatted(
        prompt=f"Passage: {' '.join(words).strip()}\nQuestion: In the passage above, does the "
               f"pronoun \"*{ex['span2_text'].strip()}*\" refer to \"{ex['span1_text'].strip()}\"?"
               "\nAnswer:",
        candidates=(" no", " yes"), label=_label(ex["label"], 2))


def format_multirc(ex: dict) -> Formatted:
    return Formatted(
        prompt=f"{ex['paragraph'].strip()}\nQuestion: {ex['question'].strip()}\n"
               f"Answer: {ex['answer'].strip()}\nIs the answer correct?",
        candidates=(" no", " yes"), label=_label(ex["label"], 2))


def format_record(ex: dict) -> Formatted:
    query = ex["query"]
    if "@placeholder" not in query:
        raise TaskDataError("a ReCoRD query must hold @placeholder", field="query")
    initial, *highlights = ex["passage"].strip().split("\n@highlight\n")
    prompt = initial.strip() + "\n\n" + "".join(f"  - {h.strip()}.\n" for h in highlights)
    entities = ex["entities"]
    # One example the data leaves unscorable is skipped and counted, not fatal.
    if not entities:
        raise SkipExample("no_entities", "a ReCoRD example needs at least one entity",
                          field="entities")
    candidates = tuple(f"  - {query.replace('@placeholder', e)}" for e in entities)
    gold = [i for i, e in enumerate(entities) if e in set(ex["answers"])]
    if ex["answers"] and not gold:
        raise SkipExample("answer_not_an_entity",
                          f"no answer {ex['answers']} is among the entities", field="answers")
    return Formatted(prompt=prompt, candidates=candidates, candidate_answers=tuple(entities),
                     label=gold[0] if gold else None, accepted=tuple(gold[1:]))


# -- natural language inference ------------------------------------------------

def format_anli(ex: dict) -> Formatted:  # classes: e, n, c
    return Formatted(prompt=f"{ex['context'].strip()}\nQuestion: {ex['hypothesis'].strip()} "
                            "True, False, or Neither?\nAnswer:",
                     candidates=(" True", " Neither", " False"), label=_label(ex["label"], 3))


# -- the table ------------------------------------------------------------------

def _source(tfds_name, splits=(), manual_instructions=None) -> Source:
    """`tfds_name` as a TfdsSource; a Source given instead is used as it is."""
    if isinstance(tfds_name, Source):
        return tfds_name
    return TfdsSource(tfds_name, splits, manual_instructions=manual_instructions)


def _nlg(name, tfds_name, formatter, category, metrics, eval_split, description,
         splits=(), stop_sequences=GENERATION_STOPS, kind=GENERATE, **kw):
    return Task(name=name, source=_source(tfds_name, splits), formatter=formatter,
                kind=kind, metrics=metrics, category=category, eval_split=eval_split,
                stop_sequences=stop_sequences, description=description, **kw)


def _nlu(name, tfds_name, formatter, category, eval_split, description, splits=(),
         manual_instructions=None, kind=RANK, metrics=("accuracy",), normalization="token",
         **kw):
    source = _source(tfds_name, splits, manual_instructions)
    return Task(name=name, source=source, formatter=formatter, kind=kind,
                metrics=metrics, category=category, eval_split=eval_split,
                normalization=normalization, description=description, **kw)


_EM, _F1 = ("exact_match",), ("f1",)
# Normalization as GPT-3 (which GLaM follows) chose it (its section 2.4): the mean
# log-likelihood per token ("token", _nlu's default) on most tasks; on ARC,
# OpenBookQA and RACE each answer's log-likelihood less its log-likelihood after
# the answer cue alone ("Answer:", or "A:" where the prompt asks with Q:/A:, as RACE's).
_UNCONDITIONAL = dict(normalization="unconditional", unconditional_context="Answer:")
_UNCONDITIONAL_QA = dict(normalization="unconditional", unconditional_context="A:")
# SuperGLUE's MultiRC: one answer-option per example, F1a over all of them and
# exact match per question (paragraph and question ids of TFDS's idx).
_MULTIRC = dict(kind=RANK_GROUPED, metrics=("f1a", "exact_match"),
                group_by=lambda ex: f"{ex['idx']['paragraph']}-{ex['idx']['question']}")
_SG = "super_glue/{}:1.0.2"

_TRIVIAQA = TfdsSource("trivia_qa/rc.nocontext:1.1.0", unique_field="question_id")
_LAMBADA = SplitSources((
    ("test", ManualFileSource((("test", "lambada_test.jsonl"),), LAMBADA_INSTRUCTIONS), "test"),
    ("validation", TfdsSource("lambada:1.0.0"), "train")))  # TFDS "train": the dev file
_COQA = SplitSources((
    ("validation", ManualFileSource((("validation", "coqa-dev-v1.0.json"),), COQA_INSTRUCTIONS,
                                    records=coqa_stories), "validation"),
    ("train", TfdsSource("coqa:1.0.0"), "train")))
_DROP = SplitSources((
    ("validation", ManualFileSource((("validation", "drop_dataset_dev.json"),),
                                    DROP_INSTRUCTIONS, records=drop_questions), "validation"),
    ("train", TfdsSource("drop:2.0.0"), "train")))  # shots: single spans are enough
_QUAC = ManualFileSource((("validation", "val_v0.2.json"), ("train", "train_v0.2.json")),
                         QUAC_INSTRUCTIONS, records=quac_dialogues)

GLAM_TASKS = (
    _nlg("triviaqa", _TRIVIAQA, format_triviaqa, OPEN_DOMAIN_QA, _EM,
         "validation", "TriviaQA (closed book)"),
    _nlg("natural_questions", "natural_questions_open:1.0.0", format_natural_questions,
         OPEN_DOMAIN_QA, _EM, "validation", "Natural Questions (open)"),
    _nlg("web_questions", "web_questions:1.0.0", format_web_questions, OPEN_DOMAIN_QA, _EM,
         "test", "WebQuestions"),
    _nlg("lambada", _LAMBADA, format_lambada, CLOZE_COMPLETION, _EM, "test", "LAMBADA",
         few_shot_split="validation", stop_sequences=WORD_STOPS, max_decode_tokens=8),
    _nlu("hellaswag", "hellaswag:1.1.0", format_hellaswag, CLOZE_COMPLETION, "validation",
         "HellaSwag"),
    _nlu("story_cloze", "story_cloze/2016:1.0.0", format_story_cloze, CLOZE_COMPLETION, "test",
         "StoryCloze (2016)", few_shot_split="validation",
         manual_instructions=STORY_CLOZE_INSTRUCTIONS),
    _nlu("winograd", "wsc273:1.0.0", format_winograd, WINOGRAD_STYLE, "test",
         "Winograd schemas (WSC273)", few_shot_split="test"),
    _nlu("winogrande", "winogrande:1.2.0", format_winogrande, WINOGRAD_STYLE, "validation",
         "WinoGrande", splits={"train": "train_xl"}),
    _nlu("piqa", "piqa:1.0.0", format_piqa, COMMON_SENSE_REASONING, "validation", "PIQA"),
    _nlu("arc_easy", "ai2_arc/ARC-Easy:1.0.0", format_arc, COMMON_SENSE_REASONING, "test",
         "ARC (Easy)", **_UNCONDITIONAL),
    _nlu("arc_challenge", "ai2_arc/ARC-Challenge:1.0.0", format_arc, COMMON_SENSE_REASONING,
         "test", "ARC (Challenge)", **_UNCONDITIONAL),
    _nlu("openbookqa", "openbookqa:0.1.0", format_openbookqa, COMMON_SENSE_REASONING, "test",
         "OpenBookQA", **_UNCONDITIONAL),
    _nlg("drop", _DROP, format_drop, READING_COMPREHENSION, ("f1", "exact_match"),
         "validation", "DROP", kind=GENERATE_DROP),
    _nlg("coqa", _COQA, format_coqa, READING_COMPREHENSION, _F1, "validation", "CoQA",
         preprocessor=split_coqa_turns),
    _nlg("quac", _QUAC, format_quac, READING_COMPREHENSION, _F1, "validation", "QuAC",
         no_answer=NO_ANSWER, preprocessor=split_quac_turns),
    _nlg("squad_v2", "squad/v2.0:3.0.0", format_squad_v2, READING_COMPREHENSION,
         ("f1", "exact_match"), "validation", "SQuADv2", no_answer=NO_ANSWER),
    _nlu("race_m", "race/middle:2.0.0", format_race, READING_COMPREHENSION, "test",
         "RACE-m", preprocessor=split_race_questions, **_UNCONDITIONAL_QA),
    _nlu("race_h", "race/high:2.0.0", format_race, READING_COMPREHENSION, "test",
         "RACE-h", preprocessor=split_race_questions, **_UNCONDITIONAL_QA),
    _nlu("boolq", _SG.format("boolq"), format_boolq, SUPERGLUE, "validation", "BoolQ"),
    _nlu("cb", _SG.format("cb"), format_cb, SUPERGLUE, "validation", "CB",
         metrics=("accuracy", "f1_macro")),
    _nlu("copa", _SG.format("copa"), format_copa, SUPERGLUE, "validation", "COPA"),
    _nlu("rte", _SG.format("rte"), format_rte, SUPERGLUE, "validation", "RTE"),
    _nlu("wic", _SG.format("wic"), format_wic, SUPERGLUE, "validation", "WiC"),
    _nlu("wsc", _SG.format("wsc.fixed"), format_wsc, SUPERGLUE, "validation", "WSC"),
    _nlu("multirc", _SG.format("multirc"), format_multirc, SUPERGLUE, "validation", "MultiRC",
         **_MULTIRC),
    _nlu("record", _SG.format("record"), format_record, SUPERGLUE, "validation", "ReCoRD",
         metrics=("accuracy", "f1")),  # GPT-3 reports both; its tables list accuracy
    _nlu("anli_r1", "anli/r1:0.1.0", format_anli, NLI, "validation", "ANLI R1"),
    _nlu("anli_r2", "anli/r2:0.1.0", format_anli, NLI, "validation", "ANLI R2"),
    _nlu("anli_r3", "anli/r3:0.1.0", format_anli, NLI, "validation", "ANLI R3"),
)
GLAM_TASK_NAMES = tuple(t.name for t in GLAM_TASKS)

for _task in GLAM_TASKS:
    register(_task)
del _task
