"""A probe campaign of bad input through the `glam` command line (issue 15).

Each probe runs `glam` with one bad flag, data spec or task file and must end
with exit code 2, no traceback and exactly one line on stderr that names what
is wrong (`glam COMMAND: error: ...`), having written nothing: the scratch
files, the trained model directory and the task registry are as they were.
Probes run in-process through `main()` (fast); two run as real processes, to
show the exit path a user sees.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

from glam_tf.cli import main
from glam_tf.tasks import REGISTRY

QA = {"kind": "generate", "fields": {"prompt": "Q: {question}\nA:", "answer": "answer"}}
ROWS = [{"split": "train", "question": "2+2", "answer": "4"},
        {"split": "validation", "question": "1+1", "answer": "2"}]


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    """Input files, good and bad, for the probes (never written to by them)."""
    root = tmp_path_factory.mktemp("probes")
    (root / "a.txt").write_text("one small document\n")
    (root / "b.txt").write_text("another small document\n")
    (root / "doc.csv").write_text("a,b\n")
    (root / "bad.jsonl").write_text('{"text": "fine"}\nnot json\n')
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    (root / "typo.jsonl").write_text("".join(json.dumps(r) + "\n" for r in ROWS + [
        {"split": "valdation", "question": "3+3", "answer": "6"}]))
    (root / "tok").mkdir()
    (root / "tok" / "tokenizer.model").write_bytes(b"not overwritten")
    task = lambda **kw: json.dumps({"name": "probe_task", "data": "data.jsonl", **QA, **kw})
    (root / "clash.json").write_text(task(name="boolq"))
    (root / "typo.json").write_text(task(data="typo.jsonl"))
    (root / "twice.json").write_text('{"name": "a", "name": "b"}')
    (root / "twice.yaml").write_text("name: a\nkind: generate\nkind: rank\n")
    (root / "clash.py").write_text("from glam_tf.tasks import get, register\n"
                                   "register(get('boolq'))\n")
    return root


# (probe id, argv with {tmp} = scratch dir and {model} = a trained model dir,
#  text the error line must hold)
PROBES = [
    # glam eval flags
    ("eval-batch-size-0", ["eval", "--model_dir", "{model}", "--tasks", "boolq",
                           "--batch_size", "0"], "--batch_size 0: must be an integer >= 1"),
    ("eval-max-examples-0", ["eval", "--model_dir", "{model}", "--tasks", "boolq",
                             "--max_examples", "0"], "--max_examples 0: must be an integer >= 1"),
    ("eval-max-length-1", ["eval", "--saved_model", "{tmp}", "--tasks", "boolq",
                           "--max_length", "1"], "--max_length 1: must be an integer >= 2"),
    ("eval-seed-negative", ["eval", "--model_dir", "{model}", "--tasks", "boolq",
                            "--seed", "-1"], "--seed -1: must be an integer >= 0"),
    ("eval-max-length-minus-inf", ["eval", "--saved_model", "{tmp}", "--tasks", "boolq",
                                   "--max_length", "-inf"],
     "argument --max_length: invalid int value: '-inf' (see glam eval --help)"),
    ("eval-shots-negative", ["eval", "--model_dir", "{model}", "--tasks", "boolq",
                             "--shots", "0,-1"], "--shots '0,-1': give comma-separated ints >= 0"),
    ("eval-two-models", ["eval", "--model_dir", "{model}", "--saved_model", "{tmp}",
                         "--tasks", "boolq"], "give exactly one of --model_dir, --saved_model"),
    ("eval-unknown-task", ["eval", "--model_dir", "{model}", "--tasks", "boolg"],
     "unknown task 'boolg'; did you mean boolq?"),
    ("eval-output-dir-missing", ["eval", "--model_dir", "{model}", "--tasks", "boolq",
                                 "--output", "{tmp}/no/such/dir/out.json"], "cannot write into"),
    ("eval-serving-url-nothing-listening", ["eval", "--serving_url", "http://127.0.0.1:{port}",
                                            "--model_name", "glam", "--tasks", "boolq",
                                            "--max_length", "128", "--tokenizer",
                                            "{model}/tokenizer.model"],
     "http://127.0.0.1:{port}: no server answers there"),
    ("eval-serving-url-no-scheme", ["eval", "--serving_url", "localhost:8501", "--model_name",
                                    "glam", "--tasks", "boolq"],
     "--serving_url localhost:8501: give an http:// or https:// URL"),
    # task files and modules
    ("task-file-missing", ["eval", "--model_dir", "{model}", "--tasks", "boolq",
                           "--task_file", "{tmp}/none.json"], "none.json: cannot read the task file"),
    ("task-file-key-twice-json", ["tasks", "--task_file", "{tmp}/twice.json"],
     "twice.json:1: field 'name': is given twice"),
    ("task-file-key-twice-yaml", ["tasks", "--task_file", "{tmp}/twice.yaml"],
     "twice.yaml:3: field 'kind': is given twice"),
    ("task-file-misspelt-split", ["eval", "--model_dir", "{model}", "--tasks", "probe_task",
                                  "--task_file", "{tmp}/typo.json"],
     "typo.jsonl:3: field 'split': split 'valdation' is none of train, validation, test"),
    ("task-file-builtin-name", ["tasks", "--task_file", "{tmp}/clash.json"],
     "clash.json:1: field 'name': 'boolq' is already a registered task"),
    ("tasks-module-builtin-name", ["tasks", "--tasks_module", "{tmp}/clash.py"],
     "clash.py: Task.name='boolq': is already registered"),
    # glam tokenizer train flags and data specs (the --data parser)
    ("tokenizer-max-documents-0", ["tokenizer", "train", "--vocab_size", "300", "--output",
                                   "{tmp}/new", "--max_documents", "0"],
     "--max_documents 0: must be an integer >= 1"),
    ("tokenizer-max-documents-negative", ["tokenizer", "train", "--vocab_size", "300",
                                          "--output", "{tmp}/new", "--max_documents", "-5"],
     "--max_documents -5: must be an integer >= 1"),
    ("tokenizer-vocab-size-negative", ["tokenizer", "train", "--vocab_size", "-1", "--output",
                                       "{tmp}/new"], "vocab_size=-1: must be >= 260"),
    ("tokenizer-vocab-size-tiny", ["tokenizer", "train", "--vocab_size", "10", "--output",
                                   "{tmp}/new", "--input", "files:{tmp}/a.txt"],
     "vocab_size=10: must be >= 260"),
    ("tokenizer-output-taken", ["tokenizer", "train", "--vocab_size", "260", "--output",
                                "{tmp}/tok", "--input", "files:{tmp}/a.txt"],
     "tok/tokenizer.model exists already"),
    ("spec-unknown-kind", ["tokenizer", "train", "--vocab_size", "300", "--output", "{tmp}/new",
                           "--input", "embeded"], "data spec 'embeded' is not one of: embedded"),
    ("spec-embedded-with-body", ["tokenizer", "train", "--vocab_size", "300", "--output",
                                 "{tmp}/new", "--input", "embedded:x"],
     "embedded takes nothing after it"),
    ("spec-files-missing", ["tokenizer", "train", "--vocab_size", "300", "--output",
                            "{tmp}/new", "--input", "files:{tmp}/none.txt"],
     "none.txt: no such file"),
    ("spec-files-pattern-empty", ["tokenizer", "train", "--vocab_size", "300", "--output",
                                  "{tmp}/new", "--input", "files:{tmp}/*.md"],
     "*.md: the pattern matches no file"),
    ("spec-files-directory", ["tokenizer", "train", "--vocab_size", "300", "--output",
                              "{tmp}/new", "--input", "files:{tmp}"], "is a directory"),
    ("spec-files-bad-jsonl", ["tokenizer", "train", "--vocab_size", "300", "--output",
                              "{tmp}/new", "--input", "files:{tmp}/bad.jsonl"],
     "bad.jsonl:2: not valid JSON"),
    ("spec-files-csv", ["tokenizer", "train", "--vocab_size", "300", "--output", "{tmp}/new",
                        "--input", "files:{tmp}/doc.csv"], "doc.csv: unsupported file type"),
    ("spec-tfds-bad-name", ["tokenizer", "train", "--vocab_size", "300", "--output",
                            "{tmp}/new", "--input", "tfds:no such!"], "is not a TFDS name"),
    ("spec-mix-trailing-comma", ["tokenizer", "train", "--vocab_size", "300", "--output",
                                 "{tmp}/new", "--input", "mix:embedded=1,"],
     "an empty component: a trailing comma"),
    ("spec-mix-bad-weight", ["tokenizer", "train", "--vocab_size", "300", "--output",
                             "{tmp}/new", "--input", "mix:embedded=abc,files:{tmp}/a.txt=1"],
     "'abc' is not a weight (a number > 0) for 'embedded'"),
    ("spec-mix-zero-weight", ["tokenizer", "train", "--vocab_size", "300", "--output",
                              "{tmp}/new", "--input", "mix:files:{tmp}/a.txt=0"],
     "must be a finite number > 0"),
    ("spec-mix-nested", ["tokenizer", "train", "--vocab_size", "300", "--output", "{tmp}/new",
                         "--input", "mix:glam=1"], "mixtures cannot be nested"),
    ("spec-quality-no-classifier", ["tokenizer", "train", "--vocab_size", "300", "--output",
                                    "{tmp}/new", "--input", "quality:{tmp}=files:{tmp}/a.txt"],
     "no quality classifier in"),
    ("spec-quality-bad-alpha", ["tokenizer", "train", "--vocab_size", "300", "--output",
                                "{tmp}/new", "--input", "quality:{tmp}:-1=files:{tmp}/a.txt"],
     "alpha=-1: must be a finite number > 0"),
    # glam quickstart
    ("quickstart-minutes-minus-inf", ["quickstart", "--workdir", "{tmp}/new", "--minutes", "-inf"],
     "--minutes -inf: must be a finite number > 0"),
    ("quickstart-minutes-inf", ["quickstart", "--workdir", "{tmp}/new", "--minutes", "inf"],
     "--minutes inf: must be a finite number > 0"),
    ("quickstart-max-examples-negative", ["quickstart", "--workdir", "{tmp}/new",
                                          "--max_examples", "-1"],
     "--max_examples -1: must be >= 1"),
    # glam quality
    ("quality-train-no-positives", ["quality", "train", "--positive", "{tmp}/none*.txt",
                                    "--negative", "{tmp}/a.txt", "--output", "{tmp}/new"],
     "none*.txt: the pattern matches no file"),
    ("quality-train-one-positive", ["quality", "train", "--positive", "{tmp}/a.txt",
                                    "--negative", "{tmp}/*.txt", "--output", "{tmp}/new"],
     "need at least 2 positive texts"),
    ("quality-train-csv", ["quality", "train", "--positive", "{tmp}/doc.csv", "--negative",
                           "{tmp}/*.txt", "--output", "{tmp}/new"], "doc.csv: unsupported file type"),
    ("quality-score-no-classifier", ["quality", "score", "--classifier", "{tmp}", "--input",
                                     "{tmp}/a.txt", "--output", "{tmp}/new.jsonl"],
     "no quality classifier in"),
    # glam export's serving bounds
    ("export-max-batch-0", ["export", "--model_dir", "{model}", "--export_base", "{tmp}/new",
                            "--name", "glam", "--max_batch", "0"], "--max_batch 0: must be >= 1"),
    ("export-max-batch-negative-exponent", ["export", "--model_dir", "{model}", "--export_base",
                                            "{tmp}/new", "--name", "glam", "--max_batch", "-1e3"],
     "argument --max_batch: invalid int value: '-1e3'"),
    ("export-version-negative", ["export", "--model_dir", "{model}", "--export_base",
                                 "{tmp}/new", "--name", "glam", "--version", "-1"],
     "--version -1: must be an integer >= 1"),
    ("export-max-new-tokens-negative", ["export", "--model_dir", "{model}", "--export_base",
                                        "{tmp}/new", "--name", "glam", "--max_new_tokens", "-1"],
     "--max_new_tokens -1: must be in [1, 127]"),
    ("export-bad-name", ["export", "--model_dir", "{model}", "--export_base", "{tmp}/new",
                         "--name", "my model"], "--name 'my model': use letters, digits"),
    ("export-max-new-tokens-too-many", ["export", "--model_dir", "{model}", "--export_base",
                                        "{tmp}/new", "--name", "glam", "--max_new_tokens", "500"],
     "--max_new_tokens 500: must be in [1, 127]"),
]


def _tree(*roots):
    """{path: (size, mtime)} of every file and folder under the roots."""
    out = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = os.path.join(folder, name)
                stat = os.stat(path)
                out[path] = (stat.st_size if name in files else None, stat.st_mtime_ns)
    return out


def _fill(argv, scratch, model_dir, port):
    return [a.format(tmp=scratch, model=model_dir, port=port) for a in argv]


@pytest.mark.parametrize("argv, expected", [p[1:] for p in PROBES], ids=[p[0] for p in PROBES])
def test_bad_input_is_one_clear_line_exit_2_and_nothing_written(
        argv, expected, scratch, trained_model_dir, capsys):
    port = _closed_port()
    argv = _fill(argv, scratch, trained_model_dir, port)
    before, tasks = _tree(scratch, trained_model_dir), REGISTRY.names()
    capsys.readouterr()
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"glam {argv[0]}: error: ")
    assert expected.format(port=port) in lines[0]
    assert _tree(scratch, trained_model_dir) == before
    assert REGISTRY.names() == tasks


@pytest.mark.parametrize("argv, expected", [
    (["eval", "--serving_url", "http://127.0.0.1:{port}", "--model_name", "glam", "--tasks",
      "boolq", "--max_length", "128", "--tokenizer", "{model}/tokenizer.model"],
     "glam eval: error: http://127.0.0.1:{port}: no server answers there"),
    (["tokenizer", "train", "--vocab_size", "300", "--output", "{tmp}/new",
      "--max_documents", "0"], "glam tokenizer: error: --max_documents 0: must be an integer >= 1"),
    # A float64 that float32 cannot hold: refused before numpy's overflow warning.
    (["train", "--model_dir", "{tmp}/new", "--steps", "1", "--learning_rate", "1e300"],
     "glam train: error: --learning_rate 1e+300: must be in float32's range"),
], ids=["eval-nothing-listening", "tokenizer-max-documents-0", "train-learning-rate-1e300"])
def test_as_a_process_bad_input_exits_2_with_one_line_and_no_traceback(
        argv, expected, scratch, trained_model_dir):
    port = _closed_port()
    env = {k: v for k, v in os.environ.items() if k != "GLAM_VERBOSE"}
    result = subprocess.run([sys.executable, "-m", "glam_tf.cli",
                             *_fill(argv, scratch, trained_model_dir, port)],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(expected.format(port=port)), result.stderr
    assert not (scratch / "new").exists()
