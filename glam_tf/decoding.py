"""Incremental decoding and scoring with the key/value cache, in static shapes.

Prompts come left-padded: token ids [B, P] with a mask [B, P] (1 = real
token), so every prompt ends at position P - 1 and generation starts at P for
all rows. Relative positions make left padding exact: padded positions are
never attended to, and distances between real tokens are unchanged. MoE
layers route dropless while decoding (`GlamModel.extend`).

Everything runs in TensorFlow ops (a `tf.while_loop` over new tokens), so the
functions can be traced into a SavedModel signature.
"""

from __future__ import annotations

import tensorflow as tf

NEG_INF = -1e9
PAD_ID = 0  # the tokenizer's padding piece (glam_tf.tokenizer.PAD_ID): never generated


def _without_padding(logits):
    """Logits [B, V] with the padding token ruled out: outputs use it after the end."""
    return tf.where(tf.range(tf.shape(logits)[-1])[None, :] == PAD_ID, NEG_INF, logits)


def _prefill(model, prompt_ids, prompt_mask, total_length):
    cache = model.init_cache(tf.shape(prompt_ids)[0], total_length)
    logits, cache = model.extend(prompt_ids, cache, segment_ids=tf.cast(prompt_mask, tf.int32))
    return logits[:, -1], cache


def _filter_logits(logits, temperature, top_k, top_p):
    """Logits [B, V] for sampling: scaled by 1/temperature, cut to top-k and top-p."""
    logits = logits / tf.maximum(temperature, 1e-6)
    vocab = tf.shape(logits)[-1]
    k = tf.where(top_k > 0, tf.minimum(top_k, vocab), vocab)
    kth = tf.gather(tf.sort(logits, direction="DESCENDING"), k - 1, axis=-1, batch_dims=0)
    logits = tf.where(logits < kth[:, None], NEG_INF, logits)
    # top-p: keep the smallest set of most likely tokens whose mass reaches p
    # (the most likely token always stays).
    sorted_logits = tf.sort(logits, direction="DESCENDING")
    mass_before = tf.cumsum(tf.nn.softmax(sorted_logits), axis=-1, exclusive=True)
    cutoff = tf.reduce_min(tf.where(mass_before < top_p, sorted_logits, -NEG_INF), axis=-1)
    return tf.where(logits < cutoff[:, None], NEG_INF, logits)


def generate(model, prompt_ids, prompt_mask, max_new_tokens, *, temperature=0.0, top_k=0,
             top_p=1.0, seed=(0, 0), eos_id=1):
    """Greedy (temperature 0) or sampled continuation of left-padded prompts.

    Args:
      prompt_ids, prompt_mask: int32 [B, P], left-padded.
      max_new_tokens: int (static) tokens to generate at most.
      temperature, top_k, top_p: sampling controls (top_k 0 = off, top_p 1 = off).
      seed: two int32s; the same seed gives the same samples.
    Returns {"token_ids": int32 [B, max_new_tokens] (EOS then padding 0 after
    the end), "lengths": int32 [B] (tokens before EOS), "scores": float32 [B]
    sum of the chosen tokens' log-probabilities under the unfiltered model}.
    """
    prompt_ids = tf.convert_to_tensor(prompt_ids, tf.int32)
    batch, prompt_length = tf.shape(prompt_ids)[0], tf.shape(prompt_ids)[1]
    temperature = tf.cast(temperature, tf.float32)
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int32)
    logits, cache = _prefill(model, prompt_ids, prompt_mask, prompt_length + max_new_tokens)

    def step(t, logits, cache, tokens, done, scores):
        log_probs = tf.nn.log_softmax(logits)
        allowed = _without_padding(logits)
        token = tf.cond(
            temperature > 0,
            lambda: tf.random.stateless_categorical(
                _filter_logits(allowed, temperature, top_k, top_p), 1,
                seed=tf.stack([seed[0], seed[1] + t]), dtype=tf.int32)[:, 0],
            lambda: tf.argmax(allowed, axis=-1, output_type=tf.int32))
        token = tf.where(done, 0, token)
        scores += tf.where(done, 0.0, tf.gather(log_probs, token, batch_dims=1))
        tokens = tf.tensor_scatter_nd_update(
            tokens, tf.stack([tf.range(batch), tf.fill([batch], t)], 1), token)
        done |= token == eos_id
        logits, cache = model.extend(token[:, None], cache)
        return t + 1, logits[:, -1], cache, tokens, done, scores

    _, _, _, tokens, done, scores = tf.while_loop(
        lambda t, logits, cache, tokens, done, scores: (t < max_new_tokens)
        & ~tf.reduce_all(done),
        step, (tf.constant(0), logits, cache, tf.zeros([batch, max_new_tokens], tf.int32),
               tf.zeros([batch], tf.bool), tf.zeros([batch])))
    return {"token_ids": tokens, "lengths": _lengths(tokens, eos_id), "scores": scores}


def _lengths(tokens, eos_id):
    """Tokens before the first EOS (or all of them)."""
    is_end = tf.cast((tokens == eos_id) | (tokens == 0), tf.int32)
    return tf.reduce_sum(tf.cast(tf.cumsum(is_end, axis=-1) == 0, tf.int32), axis=-1)


def beam_search(model, prompt_ids, prompt_mask, max_new_tokens, *, beam_size=4, eos_id=1):
    """The most likely continuation under a beam of `beam_size` (the paper decodes with 4).

    A beam that emits EOS stays finished: it can only extend with padding at
    no cost, so finished and running beams compete on their summed
    log-probabilities. Returns the best beam per prompt, in `generate`'s form.
    """
    prompt_ids = tf.convert_to_tensor(prompt_ids, tf.int32)
    batch, prompt_length = tf.shape(prompt_ids)[0], tf.shape(prompt_ids)[1]
    k = beam_size
    tile = lambda x: tf.repeat(x, k, axis=0)  # [B, ...] -> [B*K, ...], beams of a row adjacent
    logits, cache = _prefill(model, tile(prompt_ids), tile(tf.convert_to_tensor(prompt_mask)),
                             prompt_length + max_new_tokens)
    vocab = tf.shape(logits)[-1]
    # Only beam 0 is live at first, so the K beams start from K different tokens.
    scores = tf.tile(tf.concat([[0.0], tf.fill([k - 1], NEG_INF)], 0), [batch])   # [B*K]

    def step(t, logits, cache, tokens, done, scores):
        log_probs = _without_padding(tf.nn.log_softmax(logits))                 # [B*K, V]
        finished = tf.where(tf.range(vocab)[None, :] == PAD_ID, 0.0, NEG_INF)   # pad only
        log_probs = tf.where(done[:, None], finished, log_probs)
        total = tf.reshape(scores[:, None] + log_probs, [batch, k * vocab])
        top_scores, top = tf.math.top_k(total, k)                               # [B, K]
        parent = tf.reshape(top // vocab + tf.range(batch)[:, None] * k, [-1])  # rows of [B*K]
        token = tf.reshape(top % vocab, [-1])
        cache = tf.nest.map_structure(lambda x: tf.gather(x, parent) if x.shape.rank else x,
                                      cache)
        tokens = tf.tensor_scatter_nd_update(
            tf.gather(tokens, parent), tf.stack([tf.range(batch * k), tf.fill([batch * k], t)],
                                                1), token)
        done = tf.gather(done, parent) | (token == eos_id)
        logits, cache = model.extend(token[:, None], cache)
        return t + 1, logits[:, -1], cache, tokens, done, tf.reshape(top_scores, [-1])

    _, _, _, tokens, _, scores = tf.while_loop(
        lambda t, *_: t < max_new_tokens, step,
        (tf.constant(0), logits, cache, tf.zeros([batch * k, max_new_tokens], tf.int32),
         tf.zeros([batch * k], tf.bool), scores))
    best = tf.argmax(tf.reshape(scores, [batch, k]), axis=-1, output_type=tf.int32)
    rows = tf.range(batch) * k + best
    tokens = tf.gather(tokens, rows)
    return {"token_ids": tokens, "lengths": _lengths(tokens, eos_id),
            "scores": tf.gather(scores, rows)}


def score(model, prompt_ids, prompt_mask, continuation_ids, continuation_mask):
    """Log-likelihood of each continuation after its prompt, in one forward pass.

    prompt_*: int32 [B, P] left-padded; continuation_*: int32 [B, C]
    right-padded. Returns {"log_likelihood": float32 [B] summed over the
    continuation's tokens, "num_tokens": int32 [B], "is_greedy": bool [B],
    True when every continuation token is the model's argmax}.
    """
    ids = tf.concat([prompt_ids, continuation_ids], axis=1)
    mask = tf.cast(tf.concat([prompt_mask, continuation_mask], axis=1), tf.int32)
    logits = model(ids, segment_ids=mask)[:, tf.shape(prompt_ids)[1] - 1:-1]   # predict C
    log_probs = tf.nn.log_softmax(logits)
    chosen = tf.gather(log_probs, continuation_ids, batch_dims=2)
    weight = tf.cast(continuation_mask, tf.float32)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32) == continuation_ids
    return {"log_likelihood": tf.reduce_sum(chosen * weight, axis=-1),
            "num_tokens": tf.reduce_sum(tf.cast(continuation_mask, tf.int32), axis=-1),
            "is_greedy": tf.reduce_all(greedy | (weight == 0), axis=-1)}


def score_candidates(model, prompt_ids, prompt_mask, candidate_ids, candidate_mask):
    """`score` for N candidates per prompt, running each prompt once.

    The prompts fill a cache, which is repeated for each prompt's candidates;
    the candidates then run after it in one `extend`. Equal to `score` on every
    (prompt, candidate) pair, at the cost of one prompt pass instead of N.

    prompt_*: int32 [B, P] left-padded; candidate_*: int32 [B, N, C]
    right-padded (a candidate of no tokens scores 0 over 0 tokens). Returns
    `score`'s outputs shaped [B, N].
    """
    shape = tf.shape(candidate_ids)
    batch, n, length = shape[0], shape[1], shape[2]
    last_logits, cache = _prefill(model, prompt_ids, prompt_mask,
                                  tf.shape(prompt_ids)[1] + length)
    repeat = lambda x: tf.repeat(x, n, axis=0)                    # [B, ...] -> [B*N, ...]
    cache = {"layers": tf.nest.map_structure(repeat, cache["layers"]),
             "valid": repeat(cache["valid"]), "index": cache["index"]}
    ids = tf.reshape(candidate_ids, [batch * n, length])            # [B*N, C]
    mask = tf.reshape(tf.cast(candidate_mask, tf.int32), [batch * n, length])
    logits, _ = model.extend(ids, cache, segment_ids=mask)          # [B*N, C, V]
    # Token c is predicted by the logits before it: the prompt's last for c = 0.
    # ([:, :length] keeps C = 0, all candidates empty, at no columns.)
    logits = tf.concat([tf.expand_dims(repeat(last_logits), 1), logits], axis=1)[:, :length]
    log_probs = tf.nn.log_softmax(logits)
    chosen = tf.gather(log_probs, ids, batch_dims=2)
    weight = tf.cast(mask, tf.float32)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32) == ids
    out = {"log_likelihood": tf.reduce_sum(chosen * weight, axis=-1),
           "num_tokens": tf.reduce_sum(mask, axis=-1),
           "is_greedy": tf.reduce_all(greedy | (weight == 0), axis=-1)}
    return {k: tf.reshape(v, [batch, n]) for k, v in out.items()}
