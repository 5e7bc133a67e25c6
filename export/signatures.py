"""`ServingModule`: what the SavedModel holds: the signatures, the tokenizer, the weights.

Every signature is a `tf.function` with a fixed input signature (names and
dtypes from `spec.SIGNATURES`) that runs `glam_tf.decoding` in plain
TensorFlow ops plus TF Text's SentencePiece ops; none uses XLA or DTensor.

Text prompts become token rows the way training saw documents: EOS (id 1)
first, as the token before a packed document is the previous one's EOS, then
the prompt's tokens. A row longer than the room left (max_seq_len minus the
tokens to generate or score) loses tokens from the left, after the EOS, and
`prompt_tokens_dropped` says how many. Rows are left-padded (mask 0), so all
prompts end in the same column, as `decoding` expects.
"""

from __future__ import annotations

import tensorflow as tf

from glam_tf import decoding
from glam_tf.export import spec
from glam_tf.tokenizer import EOS_ID, PAD_ID, detokenize_continuation


def left_pad(tokens, length):
    """Ragged tokens [B, (n)] -> rows [EOS] + the last (length - 1) tokens, left-padded.

    Returns (ids int32 [B, W], mask int32 [B, W], dropped int32 [B]) where W is
    1 + the longest kept row and dropped counts the tokens cut from each row.
    """
    n = tf.cast(tokens.row_lengths(), tf.int32)                         # [B]
    kept = tf.minimum(n, length - 1)
    width = tf.reduce_max(kept) + 1
    column = tf.range(width)[tf.newaxis, :]                              # [1, W]
    first = width - kept[:, tf.newaxis]                                  # first token's column
    is_token = column >= first                                           # [B, W]
    # Column j holds token (n - width + j) of its row; padding gathers a dummy.
    values = tf.concat([tf.cast(tokens.values, tf.int32), [PAD_ID]], 0)
    starts = tf.cast(tokens.row_starts(), tf.int32)
    index = (starts + n - width)[:, tf.newaxis] + column
    ids = tf.gather(values, tf.where(is_token, index, tf.size(values) - 1))
    is_eos = column == first - 1
    ids = tf.where(is_eos, EOS_ID, ids)
    return ids, tf.cast(is_token | is_eos, tf.int32), n - kept


def continuation_tokens(tokenizer, prompts, prompt_lengths, continuations):
    """Ragged tokens of each continuation as read after its prompt.

    The tokens of prompt + continuation after the prompt's own `prompt_lengths`
    (int [B], the tokens of each prompt alone); see
    `glam_tf.evaluation.ranking.continuation_tokens`: tokenized alone, a
    continuation would get SentencePiece's dummy-prefix space in front.
    """
    joined = tokenizer.tokenize(tf.strings.join([prompts, continuations]))
    joined_lengths = joined.row_lengths()
    skip = tf.minimum(tf.cast(prompt_lengths, joined_lengths.dtype), joined_lengths)
    starts = joined.row_starts() + skip
    return tf.RaggedTensor.from_row_lengths(
        tf.gather(joined.values, tf.ragged.range(starts, joined.row_splits[1:]).flat_values),
        joined_lengths - skip)


def cut_left(ids, mask, length):
    """Left-padded ids/mask [B, P] -> their last `length` columns and the tokens cut per row."""
    start = tf.maximum(tf.shape(ids)[1] - length, 0)
    return ids[:, start:], mask[:, start:], tf.reduce_sum(mask[:, :start], axis=1)


def _input_signature(name):
    return [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in spec.SIGNATURES[name].inputs]


def checked_inputs(name, **inputs):
    """The inputs of signature `name`, in its order, each checked to have its declared shape.

    TF Serving feeds a request's tensors without checking them against the
    signature (2-D `prompts` would be read as 1-D), and TensorFlow answers
    `tf.rank`, `assert_rank` and even the Rank op from the declared shapes.
    EnsureShape checks the tensor as fed: "Shape of tensor <input> [1,3] is not
    compatible with expected shape [?]", an INVALID_ARGUMENT naming the input.
    """
    return [tf.ensure_shape(inputs[t.name], t.shape, name=t.name)
            for t in spec.SIGNATURES[name].inputs]


class ServingModule(tf.Module):
    """The exported object: one tf.function per signature and what they read.

    Args:
      model: a GlamModel (unsharded) with its weights.
      tokenizer: the in-graph SentencePiece tokenizer (`glam_tf.tokenizer.load_tokenizer`).
      tokenizer_path: its `tokenizer.model`, copied to the SavedModel's assets/.
      max_batch: most prompts per request.
      max_new_tokens: most tokens a request may generate (and the default).

    The module tracks the tf.Variables that the functions read, not the Keras
    model: Keras 3 saves each keras.Variable as a copy of its tf.Variable, and
    a TF1 Session (how TF Serving loads a SavedModel) restores the checkpoint
    into the copies, leaving the variables the signatures read uninitialized.
    Keras' own ExportArchive tracks the functions' variables for this reason.
    """

    def __init__(self, model, tokenizer, tokenizer_path, max_batch, max_new_tokens):
        super().__init__(name="glam_serving")
        self.tokenizer = tokenizer  # tracked: its SentencePiece resource is saved with it
        self.tokenizer_file = tf.saved_model.Asset(tokenizer_path)
        self.max_batch = int(max_batch)
        self.max_new_tokens = int(max_new_tokens)
        functions = _SignatureFunctions(model, tokenizer, self.max_batch, self.max_new_tokens)
        self.serving_default = functions.generate(sampled=True)
        self.beam = functions.generate(sampled=False)
        self.score = functions.score()
        self.score_candidates = functions.score_candidates()
        self.generate_ids = functions.generate_ids()
        self.score_ids = functions.score_ids()
        read = {}
        for function in self.signature_functions().values():
            for variable in function.get_concrete_function().variables:
                read.setdefault(id(variable), variable)
        self.model_variables = list(read.values())

    def signature_functions(self) -> dict:
        """{signature key: tf.function}, for tf.saved_model.save(signatures=...)."""
        return {name: getattr(self, name) for name in spec.SIGNATURES}


class _SignatureFunctions:
    """Builds the signatures' tf.functions around a model and tokenizer (not tracked itself)."""

    def __init__(self, model, tokenizer, max_batch, max_new_tokens):
        self.model = model
        self.tokenizer = tokenizer
        self.max_batch = max_batch
        self.max_new_tokens = max_new_tokens
        self.max_seq_len = model.config.max_seq_len
        self.vocab_size = model.config.vocab_size

    # -- signatures ----------------------------------------------------------
    def generate(self, sampled):
        d = self._defaults()

        def generate(prompts, max_new_tokens=d["max_new_tokens"], temperature=d["temperature"],
                     top_k=d["top_k"], top_p=d["top_p"], seed=d["seed"]):
            prompts, max_new_tokens, temperature, top_k, top_p, seed = checked_inputs(
                "serving_default", prompts=prompts, max_new_tokens=max_new_tokens,
                temperature=temperature, top_k=top_k, top_p=top_p, seed=seed)
            checks = self._batch_checks(tf.shape(prompts)[0])
            checks += self._sampling_checks(max_new_tokens, temperature, top_k, top_p)
            with tf.control_dependencies(checks):
                ids, mask, dropped = left_pad(self.tokenizer.tokenize(prompts),
                                              self.max_seq_len - max_new_tokens)
            if sampled:
                out = self._generate(ids, mask, max_new_tokens, temperature, top_k, top_p, seed)
            else:
                out = decoding.beam_search(self.model, ids, mask, max_new_tokens,
                                           beam_size=spec.BEAM_SIZE, eos_id=EOS_ID)
            return self._generated(out, dropped, text=True)

        if sampled:
            return tf.function(generate, input_signature=_input_signature("serving_default"))

        def beam(prompts, max_new_tokens=d["max_new_tokens"]):
            return generate(prompts, max_new_tokens)
        return tf.function(beam, input_signature=_input_signature("beam"))

    def score(self):
        def score(prompts, continuations):
            prompts, continuations = checked_inputs("score", prompts=prompts,
                                                    continuations=continuations)
            checks = self._batch_checks(tf.shape(prompts)[0])
            checks.append(tf.debugging.assert_equal(
                tf.shape(continuations)[0], tf.shape(prompts)[0],
                message="prompts and continuations must have the same length"))
            with tf.control_dependencies(checks):
                ids, mask, dropped, continuation_ids, continuation_mask = self._score_rows(
                    prompts, continuations, 1)
            out = decoding.score(self.model, ids, mask, continuation_ids, continuation_mask)
            return {**out, "prompt_tokens_dropped": dropped}
        return tf.function(score, input_signature=_input_signature("score"))

    def score_candidates(self):
        def score_candidates(prompts, candidates):
            prompts, candidates = checked_inputs("score_candidates", prompts=prompts,
                                                 candidates=candidates)
            batch, n = tf.shape(prompts)[0], tf.shape(candidates)[1]
            checks = self._batch_checks(batch)
            checks += [
                tf.debugging.assert_equal(
                    tf.shape(candidates)[0], batch,
                    message="candidates must have one row per prompt"),
                tf.debugging.assert_less_equal(
                    batch * n, self.max_batch,
                    message=f"too many candidates in one request: prompts x candidates per "
                            f"prompt must be at most max_batch={self.max_batch}")]
            with tf.control_dependencies(checks):
                ids, mask, dropped, flat_ids, flat_mask = self._score_rows(
                    prompts, tf.reshape(candidates, [-1]), n)                 # [B*N, C]
            length = tf.shape(flat_ids)[1]
            out = decoding.score_candidates(self.model, ids, mask,
                                            tf.reshape(flat_ids, [batch, n, length]),
                                            tf.reshape(flat_mask, [batch, n, length]))
            return {**out, "prompt_tokens_dropped": dropped}
        return tf.function(score_candidates, input_signature=_input_signature("score_candidates"))

    def generate_ids(self):
        d = self._defaults()

        def generate_ids(prompt_ids, prompt_mask, max_new_tokens=d["max_new_tokens"],
                         temperature=d["temperature"], top_k=d["top_k"], top_p=d["top_p"],
                         seed=d["seed"]):
            prompt_ids, prompt_mask, max_new_tokens, temperature, top_k, top_p, seed = (
                checked_inputs("generate_ids", prompt_ids=prompt_ids, prompt_mask=prompt_mask,
                               max_new_tokens=max_new_tokens, temperature=temperature,
                               top_k=top_k, top_p=top_p, seed=seed))
            checks = self._batch_checks(tf.shape(prompt_ids)[0])
            checks += self._ids_checks("prompt", prompt_ids, prompt_mask, padded="left")
            checks += self._sampling_checks(max_new_tokens, temperature, top_k, top_p)
            with tf.control_dependencies(checks):
                ids, mask, dropped = cut_left(prompt_ids, prompt_mask,
                                              self.max_seq_len - max_new_tokens)
            out = self._generate(ids, mask, max_new_tokens, temperature, top_k, top_p, seed)
            return self._generated(out, dropped, text=False)
        return tf.function(generate_ids, input_signature=_input_signature("generate_ids"))

    def score_ids(self):
        def score_ids(prompt_ids, prompt_mask, continuation_ids, continuation_mask):
            prompt_ids, prompt_mask, continuation_ids, continuation_mask = checked_inputs(
                "score_ids", prompt_ids=prompt_ids, prompt_mask=prompt_mask,
                continuation_ids=continuation_ids, continuation_mask=continuation_mask)
            checks = self._batch_checks(tf.shape(prompt_ids)[0])
            checks += self._ids_checks("prompt", prompt_ids, prompt_mask, padded="left")
            checks += self._ids_checks("continuation", continuation_ids, continuation_mask,
                                       padded="right")
            checks.append(tf.debugging.assert_equal(
                tf.shape(continuation_ids)[0], tf.shape(prompt_ids)[0],
                message="prompt_ids and continuation_ids must have the same number of rows"))
            checks.append(self._continuation_check(tf.shape(continuation_ids)[1]))
            with tf.control_dependencies(checks):
                ids, mask, dropped = cut_left(prompt_ids, prompt_mask,
                                              self.max_seq_len - tf.shape(continuation_ids)[1])
            out = decoding.score(self.model, ids, mask, continuation_ids, continuation_mask)
            return {**out, "prompt_tokens_dropped": dropped}
        return tf.function(score_ids, input_signature=_input_signature("score_ids"))

    # -- pieces --------------------------------------------------------------
    def _score_rows(self, prompts, continuations, per_prompt):
        """Prompt rows with room for the longest continuation, and the continuation rows.

        `continuations` [B * per_prompt] holds each prompt's `per_prompt` in a
        row. Returns (ids, mask, dropped) of `left_pad` and int32
        (continuation_ids, continuation_mask) [B * per_prompt, C], right-padded.
        """
        prompt_tokens = self.tokenizer.tokenize(prompts)
        tokens = continuation_tokens(self.tokenizer, tf.repeat(prompts, per_prompt),
                                     tf.repeat(prompt_tokens.row_lengths(), per_prompt),
                                     continuations)
        continuation_ids = tf.cast(tokens.to_tensor(default_value=PAD_ID), tf.int32)
        length = tf.shape(continuation_ids)[1]
        continuation_mask = tf.sequence_mask(tokens.row_lengths(), length, tf.int32)
        with tf.control_dependencies([self._continuation_check(length)]):
            ids, mask, dropped = left_pad(prompt_tokens, self.max_seq_len - length)
        return ids, mask, dropped, continuation_ids, continuation_mask

    def _defaults(self):
        """The optional inputs' defaults, as tensors (TF writes them into the SignatureDef)."""
        values = {t.name: t.default for t in spec.SIGNATURES["serving_default"].inputs
                  if t.optional}
        values["max_new_tokens"] = self.max_new_tokens
        dtypes = {t.name: t.dtype for t in spec.SIGNATURES["serving_default"].inputs}
        return {name: tf.constant(value, dtypes[name]) for name, value in values.items()}

    def _generate(self, ids, mask, max_new_tokens, temperature, top_k, top_p, seed):
        return decoding.generate(self.model, ids, mask, max_new_tokens, temperature=temperature,
                                 top_k=top_k, top_p=top_p, seed=tf.stack([seed, 0]),
                                 eos_id=EOS_ID)

    def _generated(self, out, dropped, text):
        result = {"token_ids": out["token_ids"], "lengths": out["lengths"],
                  "scores": out["scores"], "prompt_tokens_dropped": dropped}
        if text:
            # Text up to (not including) EOS; the padding after it is not text.
            kept = tf.RaggedTensor.from_tensor(out["token_ids"], lengths=out["lengths"])
            result["completions"] = detokenize_continuation(self.tokenizer, kept)
        return result

    def _batch_checks(self, batch):
        return [tf.debugging.assert_positive(batch, message="the request holds no prompt"),
                tf.debugging.assert_less_equal(
                    batch, self.max_batch,
                    message=f"too many prompts in one request: at most max_batch="
                            f"{self.max_batch} (set by glam export --max_batch)")]

    def _sampling_checks(self, max_new_tokens, temperature, top_k, top_p):
        limit = self.max_new_tokens
        return [
            tf.debugging.assert_greater_equal(max_new_tokens, 1,
                                              message="max_new_tokens must be >= 1"),
            tf.debugging.assert_less_equal(
                max_new_tokens, limit,
                message=f"max_new_tokens must be <= {limit} (set by glam export "
                        "--max_new_tokens)"),
            tf.debugging.assert_equal(
                tf.math.is_finite(temperature) & (temperature >= 0.0), True,
                message="temperature must be finite and >= 0 (0 = greedy)"),
            tf.debugging.assert_greater_equal(top_k, 0, message="top_k must be >= 0 (0 = off)"),
            tf.debugging.assert_positive(top_p, message="top_p must be in (0, 1] (1 = off)"),
            tf.debugging.assert_less_equal(top_p, 1.0,
                                           message="top_p must be in (0, 1] (1 = off)"),
        ]

    def _continuation_check(self, length):
        return tf.debugging.assert_less_equal(
            length, self.max_seq_len - 1,
            message=f"a continuation is longer than max_seq_len - 1 = {self.max_seq_len - 1} "
                    "tokens")

    def _ids_checks(self, what, ids, mask, padded):
        """Checks of ids and a 0/1 mask padded on the `padded` side ("left": 0s then 1s)."""
        checks = [
            tf.debugging.assert_equal(tf.shape(ids), tf.shape(mask),
                                      message=f"{what}_ids and {what}_mask differ in shape"),
            tf.debugging.assert_non_negative(ids, message=f"{what}_ids must be >= 0"),
            tf.debugging.assert_less(ids, self.vocab_size,
                                     message=f"{what}_ids must be < vocab_size="
                                             f"{self.vocab_size}"),
            tf.debugging.assert_equal(mask * (1 - mask), tf.zeros_like(mask),
                                      message=f"{what}_mask must hold only 0 and 1"),
        ]
        # Left padding: no row's mask ever falls from 1 to 0; right padding: never rises.
        later, earlier = (mask[:, 1:], mask[:, :-1]) if padded == "left" else (
            mask[:, :-1], mask[:, 1:])
        order = "0s (padding) then 1s (tokens)" if padded == "left" else (
            "1s (tokens) then 0s (padding)")
        checks.append(tf.debugging.assert_equal(
            tf.reduce_all(later >= earlier), True,
            message=f"{what}_mask must be {padded}-padded: in each row, {order}"))
        if padded == "left":
            checks.append(tf.debugging.assert_positive(
                tf.reduce_sum(mask, axis=1),
                message=f"every row of {what}_mask needs at least one token (start prompts "
                        f"with EOS = {EOS_ID}, as the text signatures do)"))
        return checks
