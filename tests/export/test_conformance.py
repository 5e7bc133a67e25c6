"""The export is what TF Serving loads: its signatures, ops, warmup requests, and a process
without glam_tf that gets the in-process model's answers from it."""

import json
import os
import re
import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import (MAX_NEW_TOKENS, NAME, PROMPTS, assert_same_outputs,
                             continuation_rows, prompt_rows)
from tensorflow_serving.apis import prediction_log_pb2

from glam_tf import decoding
from glam_tf.tokenizer import detokenize_continuation
from glam_tf.export import spec

ROOT = Path(__file__).parents[2]
DT = {"string": "DT_STRING", "int32": "DT_INT32", "float32": "DT_FLOAT", "bool": "DT_BOOL"}
CONTINUATIONS = [" jumps", " anything", "\n", " word"]
SAMPLING = {"temperature": 0.9, "top_k": 50, "top_p": 0.95, "seed": 7}


def _shape_text(shape):
    dims = ["-1" if d is None else str(d) for d in shape]
    return "(" + ", ".join(dims) + ")" if len(dims) != 1 else f"({dims[0]})"


@pytest.mark.slow
def test_saved_model_cli_lists_every_signature_as_predict_with_the_documented_tensors(
        export_dir):
    # The saved_model_cli installed beside this Python (the venv the suite runs in).
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run([cli, "show", "--all", "--dir", str(export_dir)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr
    blocks = {key: (body, method) for key, body, method in re.findall(
        r"signature_def\['(\w+)'\]:\n(.*?)Method name is: ?([^\n]*)\n", result.stdout, re.S)}
    assert set(blocks) == set(spec.SIGNATURES) | {"__saved_model_init_op"}
    for key, signature in spec.SIGNATURES.items():
        body, method = blocks[key]
        assert method == "tensorflow/serving/predict", key
        shown = {(kind, name): (dtype, shape) for kind, name, dtype, shape in re.findall(
            r"(inputs|outputs)\['(\w+)'\] tensor_info:\s+dtype: (\w+)\s+shape: (.*)", body)}
        expected = {(kind, t.name): (DT[t.dtype], _shape_text(t.shape))
                    for kind, tensors in (("inputs", signature.inputs),
                                          ("outputs", signature.outputs)) for t in tensors}
        assert shown == expected, key


def _job_inputs(reference):
    model, tokenizer = reference
    ids, mask, _ = prompt_rows(tokenizer, PROMPTS, 128 - MAX_NEW_TOKENS)
    cont_ids, cont_mask = continuation_rows(tokenizer, PROMPTS, CONTINUATIONS)
    score_ids, score_mask, _ = prompt_rows(tokenizer, PROMPTS, 128 - cont_ids.shape[1])
    return {
        "serving_default": {"prompts": PROMPTS, "max_new_tokens": 6, "temperature": 0.0,
                            "top_k": 0, "top_p": 1.0, "seed": 0},
        "beam": {"prompts": PROMPTS[:2], "max_new_tokens": 4},
        "score": {"prompts": PROMPTS, "continuations": CONTINUATIONS},
        # Two prompts (one cut from the left) x two candidates: MAX_BATCH rows.
        "score_candidates": {"prompts": PROMPTS[2:],
                             "candidates": [CONTINUATIONS[:2], CONTINUATIONS[2:]]},
        "generate_ids": {"prompt_ids": ids.tolist(), "prompt_mask": mask.tolist(),
                         "max_new_tokens": MAX_NEW_TOKENS, **SAMPLING},
        "score_ids": {"prompt_ids": score_ids.tolist(), "prompt_mask": score_mask.tolist(),
                      "continuation_ids": cont_ids.tolist(),
                      "continuation_mask": cont_mask.tolist()},
    }


@pytest.fixture(scope="module")
def isolated_report(export_dir, reference, tmp_path_factory):
    """Runs tests/export/isolated_serving.py in `python -I -S` (no glam_tf importable)."""
    work = tmp_path_factory.mktemp("isolated")
    job = {"site_packages": site.getsitepackages(), "export_dir": str(export_dir),
           "repository": str(ROOT), "inputs": _job_inputs(reference),
           "report": str(work / "report.json")}
    (work / "job.json").write_text(json.dumps(job))
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(Path(__file__).with_name("isolated_serving.py")),
         str(work / "job.json")], cwd=work, capture_output=True, text=True, timeout=600,
        env={"PATH": os.environ.get("PATH", ""), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((work / "report.json").read_text()), job["inputs"]


@pytest.mark.slow
def test_a_process_without_glam_tf_loads_only_stock_tensorflow_and_tensorflow_text_ops(
        isolated_report):
    report, _ = isolated_report
    assert report["glam_tf_import_error"] and "glam_tf" in report["glam_tf_import_error"]
    assert report["foreign_modules"] == []
    assert report["unregistered_ops"] == []
    assert report["dtensor_ops"] == [] and report["glam_ops"] == []
    assert report["xla_functions"] == []
    assert "SentencepieceOp" in report["ops"] and "SentencepieceDetokenizeOp" in report["ops"]
    assert not any(op.startswith("Xla") for op in report["ops"])
    for key, signature in spec.SIGNATURES.items():
        shown = report["signatures"][key]
        assert shown["method_name"] == "tensorflow/serving/predict"
        assert shown["inputs"] == {t.name: t.dtype for t in signature.inputs}
        assert shown["outputs"] == {t.name: t.dtype for t in signature.outputs}


@pytest.mark.slow
def test_optional_inputs_have_signature_defaults_that_serving_and_python_use(
        isolated_report, reference):
    report, _ = isolated_report
    sampling = {"max_new_tokens": MAX_NEW_TOKENS, "temperature": 0.0, "top_k": 0, "top_p": 1.0,
                "seed": 0}
    assert report["signatures"]["serving_default"]["defaults"] == sampling
    assert report["signatures"]["generate_ids"]["defaults"] == sampling
    assert report["signatures"]["beam"]["defaults"] == {"max_new_tokens": MAX_NEW_TOKENS}
    assert report["signatures"]["score"]["defaults"] == {}
    assert report["signatures"]["score_candidates"]["defaults"] == {}
    # Prompts only: greedy decoding of the export's max_new_tokens.
    model, tokenizer = reference
    ids, mask, _ = prompt_rows(tokenizer, PROMPTS, 128 - MAX_NEW_TOKENS)
    expected = decoding.generate(model, ids, mask, MAX_NEW_TOKENS)["token_ids"].numpy().tolist()
    assert report["restored_defaults"]["token_ids"] == expected
    assert report["session_defaults"]["token_ids"] == expected


@pytest.mark.slow
def test_every_signature_in_the_fresh_process_matches_the_in_process_model(
        isolated_report, reference):
    report, inputs = isolated_report
    model, tokenizer = reference
    out = report["outputs"]
    as_int = lambda x: np.asarray(x, np.int32)

    # serving_default, greedy: the same tokens, scores and text as decoding.generate.
    ids, mask, dropped = prompt_rows(tokenizer, PROMPTS, 128 - 6)
    greedy = decoding.generate(model, ids, mask, 6)
    got = out["serving_default"]
    np.testing.assert_array_equal(got["token_ids"], greedy["token_ids"])
    np.testing.assert_array_equal(got["lengths"], greedy["lengths"])
    np.testing.assert_allclose(got["scores"], greedy["scores"], rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(got["prompt_tokens_dropped"], dropped)
    kept = tf.RaggedTensor.from_tensor(greedy["token_ids"], lengths=greedy["lengths"])
    texts = [t.decode() for t in detokenize_continuation(tokenizer, kept).numpy()]
    assert got["completions"] == texts

    # generate_ids, sampled under a seed: the same draws.
    g = inputs["generate_ids"]
    sampled = decoding.generate(model, as_int(g["prompt_ids"]), as_int(g["prompt_mask"]),
                                MAX_NEW_TOKENS, temperature=0.9, top_k=50, top_p=0.95,
                                seed=(7, 0))
    np.testing.assert_array_equal(out["generate_ids"]["token_ids"], sampled["token_ids"])
    np.testing.assert_allclose(out["generate_ids"]["scores"], sampled["scores"], rtol=1e-4,
                               atol=1e-4)

    # beam: decoding.beam_search with a beam of 4.
    ids, mask, _ = prompt_rows(tokenizer, PROMPTS[:2], 128 - 4)
    beam = decoding.beam_search(model, ids, mask, 4, beam_size=spec.BEAM_SIZE)
    np.testing.assert_array_equal(out["beam"]["token_ids"], beam["token_ids"])
    np.testing.assert_allclose(out["beam"]["scores"], beam["scores"], rtol=1e-4, atol=1e-4)

    # score and score_ids: decoding.score on the same rows.
    cont_ids, cont_mask = continuation_rows(tokenizer, PROMPTS, CONTINUATIONS)
    ids, mask, dropped = prompt_rows(tokenizer, PROMPTS, 128 - cont_ids.shape[1])
    scored = decoding.score(model, ids, mask, cont_ids, cont_mask)
    for key in ("score", "score_ids"):
        np.testing.assert_allclose(out[key]["log_likelihood"], scored["log_likelihood"],
                                   rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(out[key]["num_tokens"], scored["num_tokens"])
        np.testing.assert_array_equal(out[key]["is_greedy"], scored["is_greedy"])
    np.testing.assert_array_equal(out["score"]["prompt_tokens_dropped"], dropped)

    # score_candidates: decoding.score on every (prompt, candidate) pair, per column.
    prompts, candidates = PROMPTS[2:], inputs["score_candidates"]["candidates"]
    columns = [continuation_rows(tokenizer, prompts, [row[n] for row in candidates])
               for n in range(len(candidates[0]))]
    width = max(ids.shape[1] for ids, _ in columns)
    ids, mask, dropped = prompt_rows(tokenizer, prompts, 128 - width)  # room: the longest
    assert dropped[-1] > 0
    for n, (column_ids, column_mask) in enumerate(columns):
        column_ids = np.pad(column_ids, [(0, 0), (0, width - column_ids.shape[1])])
        column_mask = np.pad(column_mask, [(0, 0), (0, width - column_mask.shape[1])])
        pair = decoding.score(model, ids, mask, column_ids, column_mask)
        got = out["score_candidates"]
        np.testing.assert_allclose(np.asarray(got["log_likelihood"])[:, n],
                                   pair["log_likelihood"], rtol=1e-4, atol=1e-4)
        np.testing.assert_array_equal(np.asarray(got["num_tokens"])[:, n], pair["num_tokens"])
        np.testing.assert_array_equal(np.asarray(got["is_greedy"])[:, n], pair["is_greedy"])
    np.testing.assert_array_equal(out["score_candidates"]["prompt_tokens_dropped"], dropped)


@pytest.mark.slow
def test_warmup_records_hold_a_request_per_signature_that_runs_as_served(
        export_dir, loaded, predictor):
    path = Path(export_dir) / "assets.extra" / "tf_serving_warmup_requests"
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    assert 0 < len(records) <= 1000
    requests = []
    for record in records:
        log = prediction_log_pb2.PredictionLog.FromString(record)
        assert log.WhichOneof("log_type") == "predict_log"
        requests.append(log.predict_log.request)
    assert {r.model_spec.signature_name for r in requests} == set(spec.SIGNATURES)
    for request in requests:
        assert request.model_spec.name == NAME
        key = request.model_spec.signature_name
        inputs = {name: tf.make_ndarray(proto) for name, proto in request.inputs.items()}
        outputs = loaded.signatures[key](**inputs)
        assert set(outputs) == {t.name for t in spec.SIGNATURES[key].outputs}
        served = predictor.predict(request)
        assert_same_outputs({k: tf.make_ndarray(v) for k, v in served.outputs.items()}, outputs)


def test_the_tokenizer_is_an_asset_of_the_export(export_dir, model_dir):
    asset = Path(export_dir) / "assets" / "tokenizer.model"
    assert asset.read_bytes() == (model_dir / "tokenizer.model").read_bytes()


def test_the_export_holds_every_trained_weight_of_the_checkpoint(loaded, reference):
    model, _ = reference
    path = lambda name: re.sub(r"^glam_model(_\d+)?/", "", name.removesuffix(":0"))
    exported = {path(v.name): v.numpy() for v in loaded.model_variables}
    assert sorted(exported) == sorted(path(v.path) for v in model.trainable_variables)
    for variable in model.trainable_variables:
        np.testing.assert_array_equal(exported[path(variable.path)], variable.numpy(),
                                      variable.path)
