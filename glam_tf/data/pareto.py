"""GPT-3's Pareto sampling, as GLaM filters webpages by quality score.

`pareto_keep` draws with numpy over scores held in memory; `keep_in_graph`
applies the same rule in TensorFlow to one document as it streams.
"""

import numpy as np
import tensorflow as tf

DEFAULT_ALPHA = 9.0


def pareto_keep(scores, alpha: float = 9.0, seed: int = 0) -> np.ndarray:
    """GPT-3's rule: keep a document when `pareto(alpha) > 1 - score`; scores [...] -> bool [...].

    `np.random.default_rng(seed).pareto(alpha, size=scores.shape)` draws one
    Lomax (Pareto II) X >= 0 per document, so a document of score s in [0, 1] is
    kept with probability P(X > 1 - s) = (2 - s)^-alpha: always at s = 1, 0.2% at
    s = 0 for alpha = 9; mostly good pages survive, and a few others for diversity.
    """
    scores = np.asarray(scores, np.float64)
    if not np.all((scores >= 0) & (scores <= 1)):
        raise ValueError("scores must be probabilities in [0, 1]")
    return np.random.default_rng(seed).pareto(alpha, size=scores.shape) > 1 - scores


def keep_in_graph(score, text, alpha: float, seed: int) -> tf.Tensor:
    """`pareto_keep`'s rule for one streamed document: float [] score, tf.string [] -> bool [].

    A Lomax draw X = U^(-1/alpha) - 1 (inverse CDF, U ~ uniform(0, 1]) exceeds
    1 - score exactly when U < (2 - score)^-alpha, which is what is computed. U is
    stateless, seeded by (seed, a hash of the text), so a document is kept or
    dropped for good, in any order and epoch.
    """
    seeds = tf.stack([tf.constant(seed, tf.int64), tf.strings.to_hash_bucket_fast(text, 2 ** 62)])
    return tf.random.stateless_uniform([], seeds) < (2.0 - score) ** -alpha
