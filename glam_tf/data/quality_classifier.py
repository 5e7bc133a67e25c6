"""GLaM's webpage quality classifier: hashed n-gram features and a linear model.

GLaM (paper, "Data") scores webpages with a classifier trained to tell curated text
(Wikipedia, books) from web text. Features: n-grams of lowercased words (unigrams and
bigrams by default) hashed into V buckets with `tf.strings`. Model:
`p(curated) = sigmoid(mean bucket weight of the n-grams + bias)`.
Shapes: B documents, F hashed n-grams per document (ragged), V buckets.
"""

import dataclasses
import io
import json
import os
from typing import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

from glam_tf import fileio


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    """Features and training (Adam from zero weights) of a `QualityClassifier`.

    `seed` fixes the held-out split and the example order: training is repeatable.
    """

    num_buckets: int = 2 ** 18
    ngram_orders: tuple = (1, 2)
    epochs: int = 5
    learning_rate: float = 0.1
    batch_size: int = 256
    l2: float = 0.0
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "ngram_orders", tuple(self.ngram_orders))  # JSON gives a list
        counts = (self.num_buckets, self.epochs, self.batch_size, *self.ngram_orders)
        if not self.ngram_orders or not all(isinstance(n, int) and n >= 1 for n in counts):
            raise ValueError(f"{self}: num_buckets, epochs, batch_size, ngram_orders: ints >= 1")
        if not (self.learning_rate > 0 and self.l2 >= 0):
            raise ValueError(f"{self}: learning_rate must be > 0 and l2 >= 0")


@dataclasses.dataclass(frozen=True)
class QualityReport:
    """Held-out counts and metrics at `threshold`; positive = curated (high quality)."""

    precision: float
    recall: float
    accuracy: float
    threshold: float
    true_positives: int
    false_positives: int
    true_negatives: int
    false_negatives: int
    num_train: int


def hash_ngrams(texts, num_buckets: int, ngram_orders=(1, 2)) -> tf.RaggedTensor:
    """Texts [B] -> int64 bucket ids [B, (F)] in [0, num_buckets), all n-grams of order 1 first."""
    text = tf.strings.lower(tf.convert_to_tensor(texts, tf.string), encoding="utf-8")
    words = tf.strings.split(tf.strings.regex_replace(text, r"[^\pL\pN]+", " "))  # [B, (W)]
    ngrams = tf.strings.ngrams(words, tuple(ngram_orders), separator=" ")  # [B, (F)]
    return tf.ragged.map_flat_values(tf.strings.to_hash_bucket_fast, ngrams, num_buckets)


class QualityClassifier:
    """Scores documents with p(curated); `train` it, or `load` a saved one."""

    def __init__(self, config: QualityConfig = QualityConfig()):
        self.config = config
        self._weights = self._bias = None  # once trained or loaded: [V] and [] float32 variables

    def _logits(self, ids: tf.RaggedTensor) -> tf.Tensor:
        return logits(ids, self._weights, self._bias)

    def train(self, positive_texts: Sequence[str], negative_texts: Sequence[str],
              validation_fraction: float = 0.1) -> QualityReport:
        """Fits curated (positive) vs web (negative) texts; reports on held-out texts.

        From each class of n texts, `round(validation_fraction * n)` clipped to
        [1, n - 1], picked by a permutation seeded with `config.seed`, are held out.
        """
        cfg = self.config
        rng = np.random.default_rng(cfg.seed)
        training, held = [], []
        for label, texts in ((1.0, list(positive_texts)), (0.0, list(negative_texts))):
            if len(texts) < 2:
                raise ValueError(f"need at least 2 {'positive' if label else 'negative'} texts "
                                 f"(one to train on, one to hold out), got {len(texts)}")
            order = rng.permutation(len(texts))
            num_held = min(len(texts) - 1, max(1, round(validation_fraction * len(texts))))
            held += [(texts[i], label) for i in order[:num_held]]
            training += [(texts[i], label) for i in order[num_held:]]
        ids = hash_ngrams([t for t, _ in training], cfg.num_buckets, cfg.ngram_orders)  # [N, (F)]
        labels = tf.constant([y for _, y in training], tf.float32)  # [N]
        self._weights = tf.Variable(tf.zeros([cfg.num_buckets]), name="weights")
        self._bias = tf.Variable(0.0, name="bias")
        optimizer = keras.optimizers.Adam(cfg.learning_rate)

        @tf.function(reduce_retracing=True)
        def step(batch_ids, batch_labels):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                    batch_labels, self._logits(batch_ids)))
                loss += 0.5 * cfg.l2 * tf.reduce_sum(tf.square(self._weights))
            variables = [self._weights, self._bias]
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

        for _ in range(cfg.epochs):
            order = rng.permutation(len(training))
            for start in range(0, len(training), cfg.batch_size):
                batch = tf.constant(order[start:start + cfg.batch_size])
                step(tf.gather(ids, batch), tf.gather(labels, batch))
        predicted = self.score([t for t, _ in held]) >= 0.5
        labels = np.array([y for _, y in held], int)
        tn, fp, fn, tp = (int(c) for c in np.bincount(2 * labels + predicted, minlength=4))
        return QualityReport(precision=tp / max(tp + fp, 1), recall=tp / max(tp + fn, 1),
                             accuracy=(tp + tn) / len(held), threshold=0.5, true_positives=tp,
                             false_positives=fp, true_negatives=tn, false_negatives=fn,
                             num_train=len(training))

    def score(self, texts: Iterable[str], batch_size: int = 4096) -> np.ndarray:
        """Texts [B] -> float32 probabilities [B] in [0, 1] that each is curated text."""
        if self._weights is None:
            raise RuntimeError("QualityClassifier has no weights: call train() or load() first")
        texts, cfg = list(texts), self.config
        chunks = [tf.sigmoid(self._logits(hash_ngrams(
            texts[i:i + batch_size], cfg.num_buckets, cfg.ngram_orders))).numpy()
            for i in range(0, len(texts), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros([0], np.float32)

    def save(self, directory: str) -> None:
        """Writes the config (JSON) and weights [V] plus bias [] (.npz); never overwrites."""
        if self._weights is None:
            raise RuntimeError("QualityClassifier has no weights to save: call train() first")
        config_path, weights_path = saved_paths(directory)
        for path in (config_path, weights_path):
            if fileio.exists(path):
                raise FileExistsError(f"{path}: a quality classifier is already saved there")
        fileio.makedirs(directory)
        weights = io.BytesIO()  # np.savez seeks, which a GFile on GCS cannot
        np.savez(weights, weights=self._weights.numpy(), bias=self._bias.numpy())
        # write_new: fail rather than overwrite a concurrent save.
        fileio.write_new(config_path, json.dumps(dataclasses.asdict(self.config), indent=2,
                                                 sort_keys=True))
        fileio.write_new(weights_path, weights.getvalue())

    @classmethod
    def load(cls, directory: str) -> "QualityClassifier":
        """Reads a classifier written by `save`; FileNotFoundError naming a missing file."""
        config_path, weights_path = saved_paths(directory)
        for path in (config_path, weights_path):
            if not fileio.isfile(path):
                raise FileNotFoundError(f"no quality classifier in {directory}: {path} does not "
                                        "exist; `glam quality train` writes one")
        classifier = cls(QualityConfig(**json.loads(fileio.read_text(config_path))))
        with np.load(io.BytesIO(fileio.read_bytes(weights_path))) as arrays:
            classifier._weights = tf.Variable(arrays["weights"])  # [V]
            classifier._bias = tf.Variable(arrays["bias"])  # []
        return classifier


def logits(ids: tf.RaggedTensor, weights, bias) -> tf.Tensor:
    """Bucket ids [B, (F)] -> logits [B]; a document without n-grams gets the bias."""
    per_ngram = tf.gather(weights, ids.flat_values)  # [sum of F]
    mean = tf.math.unsorted_segment_mean(per_ngram, ids.value_rowids(), ids.nrows())  # [B]
    return mean + bias


def saved_paths(directory: str) -> tuple:
    """The (config JSON, weights .npz) files of a saved classifier."""
    return os.path.join(directory, "quality_config.json"), os.path.join(directory, "weights.npz")
