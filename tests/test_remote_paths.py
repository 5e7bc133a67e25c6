"""Every `glam` path may be on a TF filesystem: train, resume, export and eval on ram://.

ram:// is TensorFlow's in-memory filesystem, the stand-in for gs:// (see
docs/training.md, "Model dirs on gs://"): Python's open() on either name would
quietly write a local folder named `ram:` or `gs:`. It lives only in this
process, so the CLI runs in-process, with the cwd in an empty directory that
must stay empty.
"""

import json
import os
import uuid

import pytest
import tensorflow as tf

from glam_tf.cli import main
from glam_tf.tasks import REGISTRY

TINY = ["--preset", "glam_tiny", "--batch_size", "2", "--seq_len", "32",
        "--set", "vocab_size=512", "--set", "num_layers=2", "--log_every", "1",
        "--eval_every", "3", "--checkpoint_every", "3"]


def _local_entries(root):
    return sorted(os.path.relpath(os.path.join(d, n), root)
                  for d, dirs, files in os.walk(root) for n in dirs + files)


def _write(path, text):
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.gfile.GFile(path, "w") as f:
        f.write(text)


def _corpus(root, documents=40):
    """Embedded-corpus documents as .txt files under root/data/: `documents` that
    the hash split sends to train, and 4 that it sends to validation."""
    from glam_tf.data import parse_data_spec

    embedded = parse_data_spec("embedded")
    texts = [*embedded.documents("train").take(documents).as_numpy_iterator(),
             *embedded.documents("validation").take(4).as_numpy_iterator()]
    for i, text in enumerate(texts):
        _write(f"{root}/data/doc{i:03d}.txt", text.decode())
    return f"files:{root}/data/*.txt"


def _task_file(root, name):
    """A rank task whose task file and JSONL data (named relative to it) are on root."""
    rows = [{"split": "validation" if i < 3 else "train", "question": f"{a}+{a}",
             "a": str(2 * a), "b": str(2 * a + 1), "gold": 0}
            for i, a in enumerate(range(1, 7))]
    _write(f"{root}/tasks/data/arith.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    spec = {"name": name, "data": "data/arith.jsonl", "kind": "rank",
            "fields": {"prompt": "Q: {question}\nA:", "candidates": [" {a}", " {b}"],
                       "label": "gold"}}
    _write(f"{root}/tasks/arith.json", json.dumps(spec))
    return f"{root}/tasks/arith.json"


@pytest.mark.slow
def test_train_resume_export_and_eval_on_ram_write_nothing_locally(
        tmp_path, monkeypatch, capsys, tokenizer):
    monkeypatch.chdir(tmp_path)
    root = f"ram://glam-{uuid.uuid4().hex[:8]}"
    run, export_base, results = f"{root}/run", f"{root}/export", f"{root}/eval/results.json"
    data = _corpus(root)
    tf.io.gfile.makedirs(f"{root}/tok")
    tf.io.gfile.copy(tokenizer, f"{root}/tok/tokenizer.model")
    task = f"remote/arith_{uuid.uuid4().hex[:8]}"

    train = ["train", "--model_dir", run, "--data", data, *TINY]
    assert main([*train, "--steps", "3", "--tokenizer", f"{root}/tok"]) == 0
    assert main([*train, "--steps", "5"]) == 0
    assert f"Resuming {run} from step 3" in capsys.readouterr().out
    assert main(["export", "--model_dir", run, "--export_base", export_base,
                 "--name", "glam"]) == 0
    try:
        assert main(["eval", "--model_dir", run, "--task_file", _task_file(root, task),
                     "--tasks", task, "--output", results]) == 0
    finally:
        REGISTRY.remove(task)

    assert _local_entries(tmp_path) == []  # no `ram:` folder, nothing at all
    for name in ("config.json", "train.json", "tokenizer.model", "metrics.jsonl"):
        assert tf.io.gfile.exists(f"{run}/{name}"), name
    assert tf.train.latest_checkpoint(f"{run}/checkpoints").endswith("-5")
    assert tf.io.gfile.glob(f"{run}/tensorboard/train/events.*")
    steps = [json.loads(line)["step"] for line in
             tf.io.gfile.GFile(f"{run}/metrics.jsonl").read().splitlines()]
    assert [s for s in steps if s <= 5] == steps and 5 in steps
    version = f"{export_base}/glam/1"
    for name in ("saved_model.pb", "assets/tokenizer.model",
                 "assets.extra/tf_serving_warmup_requests"):
        assert tf.io.gfile.exists(f"{version}/{name}"), name
    assert tf.io.gfile.glob(f"{version}/variables/variables.index")
    assert [n for n in tf.io.gfile.listdir(f"{export_base}/glam") if n.startswith(".")] == []
    assert 'name: "glam"' in tf.io.gfile.GFile(f"{export_base}/models.config").read()
    saved = json.loads(tf.io.gfile.GFile(results).read())
    assert saved["tasks"] == [task] and saved["results"][0]["num_examples"] == 3


def test_a_tokenizer_trains_from_ram_files_into_ram(tmp_path, monkeypatch, capsys):
    from glam_tf.tokenizer import load_tokenizer

    monkeypatch.chdir(tmp_path)
    root = f"ram://glam-{uuid.uuid4().hex[:8]}"
    assert main(["tokenizer", "train", "--input", _corpus(root, documents=60),
                 "--vocab_size", "400", "--output", f"{root}/tok"]) == 0
    assert capsys.readouterr().out.strip() == f"{root}/tok/tokenizer.model"
    assert int(load_tokenizer(f"{root}/tok").vocab_size()) == 400
    assert _local_entries(tmp_path) == []
    # Training again into the same directory is a one-line error, not an overwrite.
    assert main(["tokenizer", "train", "--input", f"files:{root}/data/*.txt",
                 "--vocab_size", "400", "--output", f"{root}/tok"]) == 2
    assert "exists already" in capsys.readouterr().err


def test_a_pattern_matching_nothing_on_ram_is_one_clear_error(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    pattern = f"ram://glam-{uuid.uuid4().hex[:8]}/none/*.txt"
    assert main(["train", "--model_dir", f"ram://glam-{uuid.uuid4().hex[:8]}/run",
                 "--data", f"files:{pattern}", "--steps", "1", *TINY]) == 2
    assert f"files:{pattern}: the pattern matches no file" in capsys.readouterr().err
    assert _local_entries(tmp_path) == []
