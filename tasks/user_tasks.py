"""User tasks: a Python module that calls `register`, or a declarative JSON/YAML file.

A task file (JSON always; YAML when PyYAML is installed) describes a task over
JSON Lines data:

    {
      "name": "my_qa",                      # see NAME_RULE
      "data": "qa.jsonl",                   # or {"validation": "dev.jsonl", "train": "train.jsonl"}
      "eval_split": "validation",           # default "validation"
      "few_shot_split": "train",            # default "train"; null: zero-shot only
      "kind": "generate",                   # or "rank"
      "fields": {
        "prompt": "Q: {question}\\nA:",     # {field} placeholders; {{ and }} are braces
        "answer": "answer"                  # generate: field holding a str or a list of str
        # rank instead: "candidates": [" {a}", " {b}"] (templates) or "options"
        # (a field holding a list; each item becomes " " + item), and
        # "label": "label" (field holding an index, or the text of a candidate)
      },
      "metric": "exact_match",              # or a list; default accuracy (rank),
                                            # ["exact_match", "f1"] (generate)
      "category": "custom"                  # default "custom"
    }

Optional keys: normalization (rank: "sum", "token" (default, GPT-3's), "char" or
"unconditional", which needs unconditional_context, e.g. "Answer:"), stop_sequences
(default ["\\n"] for generate), max_decode_tokens, no_answer, target_prefix, shot_separator,
description, split_field. Paths are relative to the task file. With one data
file, each example names its split in its "split" field (or `split_field`);
with a mapping, each split has its own file.

Loading checks every example of the eval and few-shot splits, so that a bad
JSONL line (file:line), an example missing a field a template or the
answer/label names (file:line and field), an empty split, an unknown key in
the task file (file:line and key), a key given twice (file:line and key), an
example whose split is none of train, validation, test and the task's own
(file:line: a misspelt split would drop it) or a malformed template fails at
once. `register_task_file` refuses a name already registered, naming the file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import os
import re
import string
import sys
from typing import Optional, Union

from glam_tf import fileio
from glam_tf.jsonl import JsonlError, read_objects
from glam_tf.tasks.registry import REGISTRY, register
from glam_tf.tasks.sources import JsonlSource, TaskDataError
from glam_tf.tasks.task import (CUSTOM, GENERATE, RANK, Formatted, Task,
                                TaskError)

TASK_FILE_KEYS = ("name", "data", "kind", "fields", "eval_split", "few_shot_split", "metric",
                  "category", "normalization", "unconditional_context", "stop_sequences",
                  "max_decode_tokens", "no_answer", "target_prefix", "shot_separator",
                  "description", "split_field")
REQUIRED_KEYS = ("name", "data", "kind", "fields")
# Split names an example may carry in a one-file task besides the task's own two.
KNOWN_SPLITS = ("train", "validation", "test")
FIELD_KEYS = ("prompt", "candidates", "label", "answer")
# Kinds a task file can describe; the others (scorers.SCORERS) are registered
# from Python (--tasks_module): rank_grouped needs a group_by function.
FILE_KINDS = (RANK, GENERATE)


@dataclasses.dataclass(frozen=True)
class Template:
    """Text with `{field}` placeholders filled from an example; `{{`/`}}` are braces."""

    text: str

    def __post_init__(self):
        if not isinstance(self.text, str):
            raise TaskDataError(f"a template must be a string, not {self.text!r}")
        try:
            parsed = list(string.Formatter().parse(self.text))
        except ValueError as e:
            raise TaskDataError(f"template {self.text!r}: {e}") from None
        for _, name, spec, conversion in parsed:
            if name is None:
                continue
            if not name.isidentifier() or spec or conversion:
                raise TaskDataError(f"template {self.text!r}: placeholder {{{name}}} must be "
                                    "a plain field name such as {question}")
        object.__setattr__(self, "_parsed", tuple(parsed))

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for _, name, _, _ in self._parsed if name is not None))

    def render(self, example: dict, role: str = "template") -> str:
        out = []
        for literal, name, _, _ in self._parsed:
            out.append(literal)
            if name is not None:
                out.append(_text(example, name, f"the {role} {self.text!r}"))
        return "".join(out)


def _lookup(example: dict, name: str, who: str):
    if name not in example:
        have = ", ".join(sorted(example)) or "none"
        raise TaskDataError(f"{who} names field {name!r}, which this example lacks "
                            f"(its fields: {have})", field=name)
    return example[name]


def _text(example: dict, name: str, who: str) -> str:
    value = _lookup(example, name, who)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise TaskDataError(f"{who} needs text, but the field holds {value!r}", field=name)


@dataclasses.dataclass(frozen=True)
class TemplateFormatter:
    """The formatter of a declarative task (see the module doc)."""

    prompt: Template
    candidates: Union[tuple[Template, ...], str, None] = None
    label: Optional[str] = None
    answer: Optional[str] = None

    def __call__(self, example: dict) -> Formatted:
        prompt = self.prompt.render(example, "prompt template")
        if self.answer is not None:
            value = _lookup(example, self.answer, "the answer field")
            answers = [value] if isinstance(value, str) else value
            if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
                raise TaskDataError(f"must hold a string or a list of strings, not {value!r}",
                                    field=self.answer)
            return Formatted(prompt=prompt, answers=tuple(answers))
        if isinstance(self.candidates, str):
            items = _lookup(example, self.candidates, "the candidates field")
            if (not isinstance(items, list) or not items
                    or not all(isinstance(c, str) for c in items)):
                raise TaskDataError(f"must hold a non-empty list of strings, not {items!r}",
                                    field=self.candidates)
            candidates = tuple(" " + c for c in items)
        else:
            candidates = tuple(t.render(example, "candidate template") for t in self.candidates)
        value = _lookup(example, self.label, "the label field")
        return Formatted(prompt=prompt, candidates=candidates,
                         label=_label_index(value, candidates, self.label))


def _label_index(value, candidates: tuple[str, ...], field: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < len(candidates):
            return value
        raise TaskDataError(f"label {value} is not an index into {len(candidates)} candidates",
                            field=field)
    if isinstance(value, str):
        texts = [c.strip() for c in candidates]
        if value.strip() in texts:
            return texts.index(value.strip())
        raise TaskDataError(f"label {value!r} is none of the candidates {texts}", field=field)
    raise TaskDataError(f"label must be an index or a candidate's text, not {value!r}",
                        field=field)


# -- task files -------------------------------------------------------------

def load_task_file(path: str, *, validate: bool = True) -> Task:
    """The Task a JSON/YAML task file describes (not registered; see `load_tasks`)."""
    path = os.fspath(path)
    try:
        text = fileio.read_text(path)
    except OSError as e:
        raise TaskDataError(f"cannot read the task file ({e.strerror})", location=path) from None
    is_yaml = path.endswith((".yaml", ".yml"))
    spec = _parse(text, path, is_yaml)

    def where(key):
        line = _key_line(text, key, is_yaml)
        return path if line is None else f"{path}:{line}"

    def fail(key, message):
        raise TaskDataError(message, location=where(key), field=key)

    if not isinstance(spec, dict):
        raise TaskDataError("a task file must hold one object (a mapping of keys)", location=path)
    for key in spec:
        if key not in TASK_FILE_KEYS:
            fail(key, f"unknown key; task file keys are {', '.join(TASK_FILE_KEYS)}")
    for key in REQUIRED_KEYS:
        if key not in spec:
            raise TaskDataError("missing required key", location=path, field=key)
    kind = spec["kind"]
    if kind not in FILE_KINDS:
        fail("kind", f"must be one of {', '.join(FILE_KINDS)}, not {kind!r}")
    formatter = _formatter(spec["fields"], kind, fail, where)
    source = _source(spec["data"], os.path.dirname(fileio.absolute(path)),
                     spec.get("split_field", "split"), fail)
    metric = spec.get("metric", "accuracy" if kind == RANK else ["exact_match", "f1"])
    options = {k: spec[k] for k in ("eval_split", "few_shot_split", "normalization",
                                    "unconditional_context", "max_decode_tokens", "no_answer", "target_prefix",
                                    "shot_separator", "description") if k in spec}
    stops = spec.get("stop_sequences", ["\n"] if kind == GENERATE else [])
    if not isinstance(metric, (str, list)):
        fail("metric", f"must be a metric name or a list of them, not {metric!r}")
    if not isinstance(stops, list):
        fail("stop_sequences", f"must be a list of strings, not {stops!r}")
    try:
        task = Task(name=spec["name"], source=source, formatter=formatter, kind=kind,
                    metrics=tuple([metric] if isinstance(metric, str) else metric),
                    category=spec.get("category", CUSTOM),
                    stop_sequences=tuple(stops),
                    **options)
    except TaskError as e:
        key = {"metrics": "metric"}.get(e.field, e.field)
        fail(key, f"{e.value!r}: {e.rule}")
    if validate:
        splits = dict.fromkeys(s for s in (task.eval_split, task.few_shot_split) if s)
        if isinstance(source.path, str):
            _check_split_names(source, tuple(dict.fromkeys(KNOWN_SPLITS + tuple(splits))), path)
        try:
            for split in splits:
                for _ in task.formatted(split):
                    pass
        except TaskDataError as e:
            raise TaskDataError(f"{e.message} (task file {path})", location=e.location,
                                field=e.field) from None
    return task


def _parse(text: str, path: str, is_yaml: bool):
    """The task file's value; a key given twice in one mapping is an error naming it."""
    if is_yaml:
        import yaml

        try:
            return yaml.load(text, Loader=_unique_keys_yaml_loader(path))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else path
            raise TaskDataError(f"not valid YAML ({getattr(e, 'problem', e)})",
                                location=where) from None

    def unique(pairs):
        seen = {}
        for key, value in pairs:
            if key in seen:
                matches = list(re.finditer(rf"\"{re.escape(key)}\"\s*:", text))
                line = (f":{text.count(chr(10), 0, matches[1].start()) + 1}"
                        if len(matches) > 1 else "")
                raise TaskDataError("is given twice; a task file names each key once",
                                    location=f"{path}{line}", field=key)
            seen[key] = value
        return seen

    try:
        return json.loads(text, object_pairs_hook=unique)
    except json.JSONDecodeError as e:
        raise TaskDataError(f"not valid JSON ({e.msg})", location=f"{path}:{e.lineno}") from None


def _unique_keys_yaml_loader(path: str):
    """yaml.SafeLoader refusing a key given twice in one mapping (PyYAML keeps the last)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise TaskDataError("is given twice; a task file names each key once",
                                        location=f"{path}:{key_node.start_mark.line + 1}",
                                        field=key)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader


def _check_split_names(source: JsonlSource, known: tuple, task_file: str) -> None:
    """Every example of a one-file source names a known split (a typo would drop it)."""
    import difflib

    try:
        for number, example in read_objects(source.path):
            split = example.get(source.split_field)
            if split is not None and split not in known:
                close = difflib.get_close_matches(str(split), known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise TaskDataError(f"split {split!r} is none of {', '.join(known)}{hint} "
                                    f"(task file {task_file})",
                                    location=f"{source.path}:{number}", field=source.split_field)
    except (JsonlError, OSError):
        return  # reading the examples below reports it, naming file and line


def _key_line(text: str, key: str, is_yaml: bool) -> Optional[int]:
    """Best effort: the line where `key` first appears as a key."""
    pattern = (rf"^\s*['\"]?{re.escape(key)}['\"]?\s*:" if is_yaml
               else rf"\"{re.escape(key)}\"\s*:")
    match = re.search(pattern, text, re.MULTILINE)
    return None if match is None else text.count("\n", 0, match.start()) + 1


def _formatter(fields, kind, fail, where) -> TemplateFormatter:
    if not isinstance(fields, dict):
        fail("fields", "must be a mapping with prompt and answer (generate) or "
             "candidates and label (rank)")
    for key in fields:
        if key not in FIELD_KEYS:
            fail(key, f"unknown key in fields; allowed: {', '.join(FIELD_KEYS)}")
    needed = ("prompt", "answer") if kind == GENERATE else ("prompt", "candidates", "label")
    for key in FIELD_KEYS:
        if key in needed and key not in fields:
            raise TaskDataError(f"a {kind} task needs fields.{key}", location=where("fields"),
                                field=key)
        if key not in needed and key in fields:
            fail(key, f"is not used by a {kind} task (it needs {', '.join(needed)})")

    def template(key, text):
        try:
            return Template(text)
        except TaskDataError as e:
            fail(key, e.message)

    for key in ("answer", "label"):
        if key in fields and (not isinstance(fields[key], str) or not fields[key]):
            fail(key, f"must name a field of the examples, not {fields[key]!r}")
    candidates = fields.get("candidates")
    if kind == RANK:
        if isinstance(candidates, list) and candidates:
            candidates = tuple(template("candidates", c) for c in candidates)
        elif not isinstance(candidates, str) or not candidates:
            fail("candidates", "must be a list of templates or the name of a field "
                 "holding a list")
    return TemplateFormatter(prompt=template("prompt", fields["prompt"]), candidates=candidates,
                             label=fields.get("label"), answer=fields.get("answer"))


def _source(data, base_dir: str, split_field, fail) -> JsonlSource:
    def resolve(p):
        if not isinstance(p, str) or not p:
            fail("data", f"must be a JSONL path or a mapping split -> path, not {p!r}")
        return fileio.resolve(base_dir, p)  # (gs:// task files may name gs:// data)

    if isinstance(data, dict):
        if not data:
            fail("data", "the split -> file mapping is empty")
        return JsonlSource({split: resolve(p) for split, p in data.items()})
    if not isinstance(split_field, str) or not split_field:
        fail("split_field", f"must be a field name, not {split_field!r}")
    return JsonlSource(resolve(data), split_field=split_field)


# -- task modules -----------------------------------------------------------

def register_task_file(path: str) -> Task:
    """Loads a JSON/YAML task file and registers its task; a taken name names the file."""
    task = load_task_file(path)
    if task.name in REGISTRY:
        line = _key_line(fileio.read_text(os.fspath(path)), "name",
                         os.fspath(path).endswith((".yaml", ".yml")))
        raise TaskDataError(f"{task.name!r} is already a registered task (built in, or from "
                            "an earlier task file or module); choose another name",
                            location=os.fspath(path) + (f":{line}" if line else ""),
                            field="name")
    return register(task)


def load_tasks_module(path: str) -> tuple[str, ...]:
    """Imports a user Python file (which calls `register`); returns the names it added."""
    if fileio.is_remote(path):  # Python imports only local files
        raise FileNotFoundError(f"{path}: a task module must be a local file; copy it here "
                                "first (task files, .json/.yaml, may be remote)")
    path = os.path.abspath(os.fspath(path))
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path}: no such task module")
    before = set(REGISTRY.names())
    stem = re.sub(r"\W", "_", os.path.splitext(os.path.basename(path))[0])
    name = f"glam_user_tasks_{stem}_{hashlib.sha1(path.encode()).hexdigest()[:8]}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except TaskError as e:  # e.g. a name that is taken: say which module registered it
        del sys.modules[name]
        raise TaskDataError(str(e), location=path) from None
    except BaseException:
        del sys.modules[name]
        raise
    return tuple(n for n in REGISTRY.names() if n not in before)


def load_tasks(path: str) -> tuple[str, ...]:
    """Registers the tasks of a `.py` module or a `.json`/`.yaml` task file; returns their names."""
    if os.fspath(path).endswith(".py"):
        return load_tasks_module(path)
    return (register_task_file(path).name,)
