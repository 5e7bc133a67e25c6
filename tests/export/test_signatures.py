"""What the served signatures do with prompts: EOS first, left cut reported, bounds enforced."""

import numpy as np
import pytest
import tensorflow as tf
from serving_helpers import MAX_BATCH, MAX_NEW_TOKENS, PROMPTS, prompt_rows

from glam_tf.export.signatures import cut_left, left_pad

MAX_SEQ_LEN = 128  # glam_tiny's


def test_left_pad_puts_eos_first_keeps_the_last_tokens_and_counts_the_cut():
    tokens = tf.ragged.constant([[5, 6, 7], [], [8]], tf.int32)
    ids, mask, dropped = left_pad(tokens, 3)
    assert ids.numpy().tolist() == [[1, 6, 7], [0, 0, 1], [0, 1, 8]]
    assert mask.numpy().tolist() == [[1, 1, 1], [0, 0, 1], [0, 1, 1]]
    assert dropped.numpy().tolist() == [1, 0, 0]
    ids, mask, dropped = left_pad(tf.ragged.constant([[], []], tf.int32), 5)
    assert ids.numpy().tolist() == [[1], [1]] and dropped.numpy().tolist() == [0, 0]


def test_continuation_tokens_are_the_joined_texts_tokens_after_the_prompts(reference):
    from glam_tf.export.signatures import continuation_tokens

    _, tokenizer = reference
    prompts = ["Q: 2+2?\nA:", "", "The cat", "x"]
    continuations = [" 4", " hello there", "", " sat on the mat."]
    lengths = tokenizer.tokenize(tf.constant(prompts)).row_lengths()
    got = continuation_tokens(tokenizer, tf.constant(prompts), lengths,
                              tf.constant(continuations))
    alone = tokenizer.tokenize(tf.constant(prompts)).to_list()
    joined = tokenizer.tokenize(tf.constant([p + c for p, c in zip(prompts, continuations)]))
    expected = [j[len(a):] for a, j in zip(alone, joined.to_list())]
    assert got.to_list() == expected
    assert expected[2] == [] and expected[0] != tokenizer.tokenize(tf.constant([" 4"])).to_list()[0]


def test_cut_left_keeps_the_last_columns_and_counts_only_real_tokens():
    ids = tf.constant([[0, 0, 1, 5], [1, 6, 7, 8]])
    mask = tf.constant([[0, 0, 1, 1], [1, 1, 1, 1]])
    kept_ids, kept_mask, dropped = cut_left(ids, mask, 3)
    assert kept_ids.numpy().tolist() == [[0, 1, 5], [6, 7, 8]]
    assert kept_mask.numpy().tolist() == [[0, 1, 1], [1, 1, 1]]
    assert dropped.numpy().tolist() == [0, 1]
    assert cut_left(ids, mask, 9)[2].numpy().tolist() == [0, 0]


def test_an_over_long_prompt_is_cut_from_the_left_and_the_cut_is_reported(loaded, reference):
    _, tokenizer = reference
    n = len(tokenizer.tokenize(tf.constant([PROMPTS[3]])).to_list()[0])
    assert n > MAX_SEQ_LEN
    out = loaded.serving_default(tf.constant(PROMPTS), tf.constant(5))
    # The row is EOS + the last (128 - 5 - 1) tokens.
    assert out["prompt_tokens_dropped"].numpy().tolist() == [0, 0, 0, n - (MAX_SEQ_LEN - 6)]
    scored = loaded.score(tf.constant(PROMPTS[3:]), tf.constant([" word word"]))
    c = int(scored["num_tokens"][0])
    assert scored["prompt_tokens_dropped"].numpy().tolist() == [n - (MAX_SEQ_LEN - c - 1)]
    _, _, dropped = prompt_rows(tokenizer, PROMPTS, MAX_SEQ_LEN - 5)
    assert dropped.tolist() == out["prompt_tokens_dropped"].numpy().tolist()


def test_an_empty_prompt_is_the_token_after_an_eos(loaded, reference):
    model, _ = reference
    out = loaded.serving_default(tf.constant([""]), tf.constant(3))
    first = int(np.argmax(model(tf.constant([[1]]))[0, -1]))
    assert int(out["token_ids"][0, 0]) == first
    assert out["prompt_tokens_dropped"].numpy().tolist() == [0]
    scored = loaded.score(tf.constant(["", "Hello"]), tf.constant(["Hello", ""]))
    assert scored["num_tokens"].numpy().tolist()[1] == 0
    assert float(scored["log_likelihood"][1]) == 0.0 and bool(scored["is_greedy"][1])
    assert float(scored["log_likelihood"][0]) < 0


def test_completions_are_the_text_of_the_tokens_before_eos_as_it_reads_after_the_prompt(
        loaded, reference, model_dir):
    import sentencepiece as spm

    _, tokenizer = reference
    processor = spm.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
    out = loaded.serving_default(tf.constant(PROMPTS), tf.constant(MAX_NEW_TOKENS),
                                 tf.constant(1.0), tf.constant(0), tf.constant(1.0),
                                 tf.constant(3))
    ids, mask, _ = prompt_rows(tokenizer, PROMPTS, MAX_SEQ_LEN - MAX_NEW_TOKENS)
    for prompt, row, real, tokens, length, text in zip(
            PROMPTS, ids.tolist(), mask.tolist(), out["token_ids"].numpy().tolist(),
            out["lengths"].numpy(), out["completions"].numpy()):
        text, new = text.decode(), tokens[:length]
        # By the SentencePiece library: the joined text's part after the prompt (a
        # completion's leading space, which decoding it alone would drop, is kept).
        prompt_ids = [t for t, m in zip(row, real) if m][1:]   # without the EOS
        before, joined = processor.decode(prompt_ids), processor.decode(prompt_ids + new)
        if prompt:
            assert joined.startswith(before) and text == joined[len(before):]
        assert text.lstrip(" ") == processor.decode(new).lstrip(" ")
        if length < len(tokens) and tokens[length] == 1:  # EOS, then only padding
            assert not any(tokens[length + 1:])


def _error(call):
    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        call()
    return str(error.value)


def test_more_prompts_than_max_batch_fail_with_a_clear_message(loaded):
    too_many = tf.constant(["a"] * (MAX_BATCH + 1))
    message = "too many prompts in one request: at most max_batch=4"
    assert message in _error(lambda: loaded.serving_default(too_many))
    assert message in _error(lambda: loaded.beam(too_many))
    assert message in _error(lambda: loaded.score(too_many, too_many))
    ids = tf.ones([MAX_BATCH + 1, 2], tf.int32)
    assert message in _error(lambda: loaded.generate_ids(ids, ids))
    assert message in _error(lambda: loaded.score_ids(ids, ids, ids, ids))
    assert "the request holds no prompt" in _error(
        lambda: loaded.serving_default(tf.constant([], tf.string)))
    assert "prompts and continuations must have the same length" in _error(
        lambda: loaded.score(tf.constant(["a", "b"]), tf.constant(["c"])))
    assert message in _error(lambda: loaded.score_candidates(too_many, tf.constant([["a"]] * 5)))
    assert "prompts x candidates per prompt must be at most max_batch=4" in _error(
        lambda: loaded.score_candidates(tf.constant(["a", "b"]), tf.constant([["c"] * 3] * 2)))
    assert "candidates must have one row per prompt" in _error(
        lambda: loaded.score_candidates(tf.constant(["a", "b"]), tf.constant([["c"]])))


def test_generation_and_sampling_bounds_fail_with_their_messages(loaded):
    prompts = tf.constant(["a"])
    call = lambda n=1, t=0.0, k=0, p=1.0: loaded.serving_default(
        prompts, tf.constant(n), tf.constant(t), tf.constant(k), tf.constant(p))
    assert "max_new_tokens must be <= 8" in _error(lambda: call(n=MAX_NEW_TOKENS + 1))
    assert "max_new_tokens must be >= 1" in _error(lambda: call(n=0))
    for bad in (-1.0, float("inf"), float("nan")):
        assert "temperature must be finite and >= 0" in _error(lambda: call(t=bad))
    assert "top_k must be >= 0" in _error(lambda: call(k=-1))
    assert "top_p must be in (0, 1]" in _error(lambda: call(p=0.0))
    assert "top_p must be in (0, 1]" in _error(lambda: call(p=1.5))


def test_token_id_signatures_check_their_ids_and_masks(loaded):
    ids = tf.constant([[1, 5, 600]])
    ones = tf.ones([1, 3], tf.int32)
    assert "prompt_ids must be < vocab_size=512" in _error(lambda: loaded.generate_ids(ids, ones))
    assert "differ in shape" in _error(lambda: loaded.generate_ids(ones, tf.ones([1, 2], tf.int32)))
    assert "at least one token" in _error(lambda: loaded.generate_ids(ones, 0 * ones))
    assert "only 0 and 1" in _error(lambda: loaded.generate_ids(ones, 2 * ones))
    long = tf.ones([1, MAX_SEQ_LEN], tf.int32)
    assert "continuation is longer than max_seq_len - 1 = 127" in _error(
        lambda: loaded.score_ids(ones, ones, long, long))
    assert "same number of rows" in _error(
        lambda: loaded.score_ids(ones, ones, tf.ones([2, 1], tf.int32), tf.ones([2, 1], tf.int32)))


def test_all_empty_candidates_score_zero_over_zero_tokens(loaded, fed_as_served):
    # Zero candidate tokens once reached the MoE layer as zero tokens: a division by zero.
    prompts, candidates = tf.constant(["The cat", ""]), tf.constant([["", ""], ["", ""]])
    for out in (loaded.score_candidates(prompts, candidates),
                fed_as_served("score_candidates", prompts=prompts, candidates=candidates)):
        assert np.asarray(out["log_likelihood"]).tolist() == [[0.0, 0.0], [0.0, 0.0]]
        assert np.asarray(out["num_tokens"]).tolist() == [[0, 0], [0, 0]]
        assert np.asarray(out["is_greedy"]).all()


def test_masks_padded_on_the_wrong_side_are_rejected(loaded):
    ids, ones = tf.constant([[1, 5, 6]]), tf.ones([1, 3], tf.int32)
    right_padded = tf.constant([[1, 1, 0]])
    assert "prompt_mask must be left-padded: in each row, 0s (padding) then 1s (tokens)" in _error(
        lambda: loaded.generate_ids(ids, right_padded))
    assert "prompt_mask must be left-padded" in _error(
        lambda: loaded.score_ids(ids, tf.constant([[1, 0, 1]]), ids, ones))
    assert "continuation_mask must be right-padded: in each row, 1s (tokens) then 0s" in _error(
        lambda: loaded.score_ids(ids, ones, ids, tf.constant([[0, 1, 1]])))
    # The same tokens left-padded are fine, and an all-padding continuation row too.
    out = loaded.score_ids(ids, ones, ids, tf.constant([[0, 0, 0]]))
    assert out["num_tokens"].numpy().tolist() == [0]


@pytest.fixture(scope="module")
def fed_as_served(export_dir, predictor):
    """Runs a signature with its tensors fed unchecked, as TF Serving feeds a request.

    TF1's Session.run refuses a value that its placeholder's shape does not
    allow, but TF Serving does not check: here every signature input is mapped
    onto a placeholder of any shape, so that only the graph's own checks apply.
    """
    graph = tf.Graph()
    with graph.as_default():
        free = {info.name: tf.compat.v1.placeholder(info.dtype, shape=None)
                for signature in predictor.signatures.values()
                for info in signature.inputs.values()}
        session = tf.compat.v1.Session(graph=graph)
        tf.compat.v1.saved_model.loader.load(session, ["serve"], str(export_dir), input_map=free)

    def run(key, **inputs):
        signature = predictor.signatures[key]
        feeds = {free[info.name]: np.asarray(inputs[name]) if name in inputs
                 else tf.make_ndarray(signature.defaults[name])
                 for name, info in signature.inputs.items()}
        names = sorted(signature.outputs)
        fetches = [graph.get_tensor_by_name(signature.outputs[name].name) for name in names]
        return dict(zip(names, session.run(fetches, feeds)))

    return run


def test_inputs_fed_with_another_rank_are_rejected_naming_the_input(loaded, fed_as_served):
    # Fed unchecked, 2-D prompts were once read as a flat list of prompts.
    two_d = tf.constant([["a b", "c", "d"]])
    for call in (lambda: fed_as_served("serving_default", prompts=two_d),
                 lambda: loaded.signatures["serving_default"](
                     prompts=two_d, max_new_tokens=tf.constant(2), temperature=tf.constant(0.0),
                     top_k=tf.constant(0), top_p=tf.constant(1.0), seed=tf.constant(0))):
        message = _error(call)
        assert "prompts" in message and "[1,3] is not compatible with expected shape [?]" in message
    assert "[1] is not compatible with expected shape []" in _error(
        lambda: fed_as_served("serving_default", prompts=["a"], temperature=[1.0]))
    assert "[2,1,1] is not compatible with expected shape [?,?]" in _error(
        lambda: fed_as_served("generate_ids", prompt_ids=np.ones([2, 1, 1], np.int32),
                              prompt_mask=np.ones([2, 1, 1], np.int32)))
    assert "temperature must be finite and >= 0" in _error(
        lambda: fed_as_served("serving_default", prompts=["a"], temperature=np.float32("inf")))


def test_glam_eval_against_a_server_refusing_its_requests_says_why_in_one_line(
        predictor, model_dir, tmp_path, capsys):
    import json

    from loopback_serving import rest_server

    from glam_tf.cli import main
    from glam_tf.tasks import REGISTRY

    (tmp_path / "qa.jsonl").write_text("".join(json.dumps(
        {"split": "validation", "question": q, "answer": "4"}) + "\n" for q in ("2+2", "1+3")))
    (tmp_path / "qa.json").write_text(json.dumps({
        "name": "probe_served_qa", "data": "qa.jsonl", "kind": "generate", "few_shot_split": None,
        "fields": {"prompt": "Q: {question}\nA:", "answer": "answer"}}))
    with rest_server(predictor, "glam") as url:
        for args, message in [(("other",), "Servable not found for request"),
                              # The task decodes up to 32 tokens; the export allows 8.
                              (("glam",), "max_new_tokens must be <= 8 (set by glam export")]:
            capsys.readouterr()
            try:
                code = main(["eval", "--serving_url", url, "--model_name", *args, "--tasks",
                             "probe_served_qa", "--task_file", str(tmp_path / "qa.json"),
                             "--max_length", str(MAX_SEQ_LEN),
                             "--tokenizer", str(model_dir / "tokenizer.model")])
            finally:
                REGISTRY.remove("probe_served_qa")  # main registered it in this process
            lines = capsys.readouterr().err.strip().splitlines()
            assert code == 2
            assert lines[-1].startswith("glam eval: error: ") and message in lines[-1]
            assert not any("Traceback" in line or "[[{{" in line for line in lines)
