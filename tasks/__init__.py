"""Few-shot evaluation tasks and their registry (installed as `glam_tf.tasks`).

Importing this package registers the 29 GLaM benchmarks in `REGISTRY`
(TensorFlow Datasets is imported only when a task reads its data).

Public API
  Tasks and examples (`glam_tf.tasks.task`)
    Task(name, source, formatter, kind, metrics, category, eval_split="validation",
         few_shot_split="train", preprocessor=None, normalization=None,
         unconditional_context=None, group_by=None, stop_sequences=(),
         max_decode_tokens=32, no_answer=None, target_prefix=" ",
         shot_separator="\\n\\n", description="")        frozen, validated
      .formatted(split=None) -> Iterator[Formatted]     (default: eval_split)
      .eval_examples(), .few_shot_examples()
      .demonstration(shot) -> str;  .with_shots(example, shots) -> Formatted
      .shots_from_eval_split -> bool
    Formatted(prompt, candidates=None, answers=(), label=None,
              candidate_prompts=None, accepted=(), shot_group=None, demo_group=None,
              group=None, answer_spans=(), candidate_answers=None)
                                                        one example, ready to score
      .pairs() -> ((context, continuation), ...);  .correct_labels;  .is_rank
    RANK, RANK_GROUPED, GENERATE, GENERATE_DROP (kinds: the keys of
      glam_tf.evaluation.scorers.SCORERS, each with its metrics), NO_ANSWER,
      NAME_RULE, check_task_name
    Categories: OPEN_DOMAIN_QA, CLOZE_COMPLETION, WINOGRAD_STYLE,
      COMMON_SENSE_REASONING, READING_COMPREHENSION, SUPERGLUE, NLI (GLAM_CATEGORIES),
      CUSTOM; CATEGORIES; CATEGORY_TITLES
    TaskError (a bad Task field), TaskDataError (missing/malformed data; names
      location file:line and field), SkipExample (a TaskDataError a formatter raises
      for one example to skip and count, not fatal: `.formatted(keep_skipped=True)`
      yields a Skipped(reason, detail) in its place)
  Sources (`glam_tf.tasks.sources`), each with .examples(split) -> Iterator[dict]
    and .located(split) -> Iterator[(location, dict)]
    TfdsSource(name, splits=(), data_dir=None, manual_instructions=None, unique_field=None)
      .prepare(manual_dir=None)                        the only call that may download
    ManualFileSource(files={split: name}, instructions, records=None, manual_dir=None)
                                                       release files downloaded by hand
    SplitSources(((split, source, its split), ...))    each split from its own source
    JsonlSource(path | {split: path}, split_field="split")
    CallableSource(fn)                                 fn(split) -> iterable of dicts
  Registry (`glam_tf.tasks.registry`)
    TaskRegistry(tasks=()): .add(task), .get(name), .remove(name), .names(),
      .by_category(), .select(spec), `in`, len(), iteration
    REGISTRY; register(task, registry=None); get(name); select(spec, registry=None)
      spec: "boolq,piqa" | "all" | "category:NAME", items may be mixed
    UnknownTaskError (a KeyError suggesting the closest names)
  User tasks (`glam_tf.tasks.user_tasks`)
    load_tasks_module(path) -> names registered by a Python file calling register()
    load_task_file(path, validate=True) -> Task from a JSON/YAML task file
    load_tasks(path) -> names: registers a .py module or a task file
    Template(text), TemplateFormatter
  GLaM benchmarks (`glam_tf.tasks.glam_tasks`)
    GLAM_TASKS, GLAM_TASK_NAMES, STORY_CLOZE_INSTRUCTIONS, format_* functions
  Release files TFDS changes (`glam_tf.tasks.release_files`)
    LAMBADA_INSTRUCTIONS, QUAC_INSTRUCTIONS, COQA_INSTRUCTIONS, DROP_INSTRUCTIONS,
    coqa_stories, quac_dialogues, drop_questions, drop_answer_spans
"""

from glam_tf.tasks.sources import (CallableSource, JsonlSource, ManualFileSource, SkipExample,
                                   Source, SplitSources, TaskDataError, TfdsSource)
from glam_tf.tasks.task import (CATEGORIES, CATEGORY_TITLES, CLOZE_COMPLETION,
                                COMMON_SENSE_REASONING, CUSTOM, GENERATE, GENERATE_DROP,
                                GLAM_CATEGORIES, RANK_GROUPED,
                                NAME_RULE, NLI, NO_ANSWER,
                                OPEN_DOMAIN_QA, RANK, READING_COMPREHENSION, SUPERGLUE,
                                WINOGRAD_STYLE, Formatted, Skipped, Task, TaskError,
                                check_task_name)
from glam_tf.tasks.registry import (REGISTRY, TaskRegistry, UnknownTaskError, get,
                                    register, select)
from glam_tf.tasks.user_tasks import (Template, TemplateFormatter, load_task_file,
                                      load_tasks, load_tasks_module)
from glam_tf.tasks.glam_tasks import GLAM_TASK_NAMES, GLAM_TASKS, STORY_CLOZE_INSTRUCTIONS

__all__ = [
    "CATEGORIES", "CATEGORY_TITLES", "CLOZE_COMPLETION", "COMMON_SENSE_REASONING", "CUSTOM",
    "CallableSource", "Formatted", "GENERATE", "GENERATE_DROP", "GLAM_CATEGORIES", "GLAM_TASKS",
    "GLAM_TASK_NAMES", "JsonlSource", "NAME_RULE", "NLI",
    "NO_ANSWER", "OPEN_DOMAIN_QA", "RANK", "RANK_GROUPED", "READING_COMPREHENSION", "REGISTRY",
    "STORY_CLOZE_INSTRUCTIONS", "SUPERGLUE", "Source", "Task", "TaskDataError", "TaskError",
    "TaskRegistry", "Template", "TemplateFormatter", "TfdsSource", "UnknownTaskError",
    "ManualFileSource", "SkipExample", "Skipped", "SplitSources",
    "WINOGRAD_STYLE", "check_task_name", "get", "load_task_file", "load_tasks",
    "load_tasks_module", "register", "select",
]
