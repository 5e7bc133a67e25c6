"""Scoring rules on real PIQA and BoolQ dev examples, through the trained test model.

The examples come from tests/data/real_samples (a copy of the project's real
samples), turned into TFDS examples by
the real builders' own `_generate_examples` (no download, no prepare step), and
are formatted and normalized by the registered GLaM tasks.
"""

import dataclasses
import os
import pathlib

import pytest
import sentencepiece as spm
import tensorflow_datasets as tfds

from glam_tf.evaluation.backends import ModelDirBackend
from glam_tf.evaluation.evaluator import evaluate, format_table
from glam_tf.tasks import REGISTRY, CallableSource



# The repository's copy of ../shared/data/real-samples (tests/data/real_samples/README.md).
SAMPLES = str(pathlib.Path(__file__).parents[1] / "data" / "real_samples")


def _real_task(name, tfds_name, generate):
    """The registered task `name`, reading real examples through its builder's generator."""
    builder = tfds.builder(tfds_name)
    labels = {k: f for k, f in builder.info.features.items()
              if isinstance(f, tfds.features.ClassLabel)}
    rows = []
    for _, example in generate(builder):
        # As the prepared dataset stores them: class names become their indices.
        rows.append({k: labels[k].str2int(v) if k in labels and isinstance(v, str) else v
                     for k, v in example.items()})
    return dataclasses.replace(REGISTRY.get(name), name=f"real/{name}",
                               source=CallableSource(lambda split: rows))


@pytest.fixture(scope="module")
def backend(eval_model_dir):
    return ModelDirBackend(eval_model_dir, batch_size=8)


@pytest.fixture(scope="module")
def pieces(eval_model_dir):
    """The model's tokenizer in Python's SentencePiece: text -> number of pieces."""
    from glam_tf.export.exporter import read_model_dir

    sp = spm.SentencePieceProcessor(model_file=str(read_model_dir(eval_model_dir)[2]))
    return lambda text: len(sp.encode(text))


def test_real_piqa_at_128_tokens_skips_and_counts_the_too_long_candidates_and_finishes(
        backend, pieces):
    folder = os.path.join(SAMPLES, "piqa", "physicaliqa-train-dev")
    task = _real_task("piqa", "piqa:1.0.0", lambda b: b._generate_examples(
        os.path.join(folder, "dev.jsonl"), os.path.join(folder, "dev-labels.lst")))
    assert backend.max_length == 128
    # Independently: the continuation's pieces are those of context + continuation after
    # the context's own (SentencePiece in Python, not TF Text); more than 127 cannot fit.
    too_long = sum(
        any(pieces(c + t) - pieces(c) > 127 for c, t in e.pairs())
        for e in task.eval_examples())
    result = evaluate(task, backend)
    assert too_long > 0                       # the real data does reach the limit here
    assert result["skipped"] == {"continuation_too_long": too_long}
    assert result["num_examples"] == 60 - too_long
    assert sum("skipped" in p for p in result["predictions"]) == too_long
    assert f"{too_long} continuation_too_long (of 60)" in format_table([result])


def test_real_boolq_ranks_yes_and_no_by_log_likelihood_per_token(backend, pieces):
    folder = os.path.join(SAMPLES, "super_glue_boolq", "BoolQ")
    task = _real_task("boolq", "super_glue/boolq:1.0.2",
                      lambda b: b._generate_examples(os.path.join(folder, "val.jsonl"),
                                                     "validation"))
    result = evaluate(task, backend, max_examples=12)
    assert result["normalization"] == "token" and not result["skipped"]
    for p in result["predictions"]:
        per_token = [ll / n for ll, n in zip(p["log_likelihoods"], p["num_tokens"])]
        assert p["scores"] == pytest.approx(per_token)
        assert p["prediction"] == max(range(2), key=lambda i: (per_token[i], -i))
    first = next(task.eval_examples())
    assert result["predictions"][0]["num_tokens"] == [
        pieces(c + t) - pieces(c) for c, t in first.pairs()]
