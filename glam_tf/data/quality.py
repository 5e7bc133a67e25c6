"""GLaM's webpage quality filter: a linear classifier plus GPT-3 Pareto sampling.

GLaM (paper, "Data") scores webpages with a classifier trained to tell curated text
(Wikipedia, books) from web text, and samples them by score as GPT-3 does (`pareto_keep`).
Features: n-grams of lowercased words (unigrams and bigrams by default) hashed into V buckets
with `tf.strings`. Model: `p(curated) = sigmoid(mean bucket weight of the n-grams + bias)`.
Shapes: B documents, F hashed n-grams per document (ragged), V buckets.

`QualitySource` applies the filter to a data source: the `quality:` data spec,
`quality:CLASSIFIER_DIR[:ALPHA]=SPEC` (see `parse_quality_spec`).
"""

import dataclasses
import io
import itertools
import json
import logging
import math
import os
from typing import Iterable, Iterator, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from glam_tf import fileio
from glam_tf.data.sources import DataError, Source, TextSource, parse_data_spec
from glam_tf.jsonl import read_objects

logger = logging.getLogger(__name__)

DEFAULT_ALPHA = 9.0
FILTER_SEED = 0  # fixed, so that a spec keeps the same documents on every run


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
        return _logits(ids, self._weights, self._bias)

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
        config_path, weights_path = _paths(directory)
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
        """Reads a classifier written by `save` (a missing file raises FileNotFoundError)."""
        config_path, weights_path = _paths(directory)
        classifier = cls(QualityConfig(**json.loads(fileio.read_text(config_path))))
        with np.load(io.BytesIO(fileio.read_bytes(weights_path))) as arrays:
            classifier._weights = tf.Variable(arrays["weights"])  # [V]
            classifier._bias = tf.Variable(arrays["bias"])  # []
        return classifier


def _logits(ids: tf.RaggedTensor, weights, bias) -> tf.Tensor:
    """Bucket ids [B, (F)] -> logits [B]; a document without n-grams gets the bias."""
    per_ngram = tf.gather(weights, ids.flat_values)  # [sum of F]
    mean = tf.math.unsorted_segment_mean(per_ngram, ids.value_rowids(), ids.nrows())  # [B]
    return mean + bias


def _paths(directory: str) -> tuple:
    """The (config JSON, weights .npz) files of a saved classifier."""
    return os.path.join(directory, "quality_config.json"), os.path.join(directory, "weights.npz")


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


def read_documents(pattern: str) -> Iterator[tuple]:
    """Yields (path, index, text) for every document of the files matching `pattern`.

    Files are read in sorted order. A `.txt` file is one document (index 0); a
    `.jsonl` file holds one JSON object with a string "text" field per line,
    and index counts its non-blank lines from 0. Raises ValueError naming the
    file and line of a bad line (`glam_tf.jsonl.JsonlError` when it is not JSON).
    """
    paths = sorted(fileio.glob(pattern))
    if not paths:
        raise FileNotFoundError(f"{pattern}: no such file, or no file matches this pattern")
    for path in paths:
        if not path.endswith((".txt", ".jsonl")):
            raise ValueError(f"{path}: unsupported file type (expected .txt or .jsonl)")
        if path.endswith(".txt"):
            yield path, 0, fileio.read_text(path)
            continue
        for index, (number, record) in enumerate(read_objects(path)):  # JsonlError: bad line
            if not isinstance(record.get("text"), str):
                raise ValueError(f'{path}:{number}: not a JSON object with a string "text"')
            yield path, index, record["text"]


def train_from_files(positive_glob: str, negative_glob: str, output_dir: str,
                     validation_fraction: float = 0.1, **options) -> QualityReport:
    """Trains on curated (positive) vs web (negative) files; saves to `output_dir`.

    `options` are `QualityConfig` fields; the held-out report is returned, not saved.
    """
    if fileio.exists(config_path := _paths(output_dir)[0]):  # fail now, not after training
        raise FileExistsError(f"{config_path}: a quality classifier is already saved there")
    classifier = QualityClassifier(QualityConfig(**options))
    report = classifier.train([t for *_, t in read_documents(positive_glob)],
                              [t for *_, t in read_documents(negative_glob)], validation_fraction)
    classifier.save(output_dir)
    return report


def score_files(classifier_dir: str, input_glob: str, output_path: str,
                batch_size: int = 4096) -> int:
    """Scores every document of `input_glob` for `pareto_keep`; returns how many.

    Writes JSONL to `output_path` (never overwritten; removed if an input is bad),
    one record per document in reading order: {"path": str, "index": int (see
    `read_documents`), "score": float p(curated)}.
    """
    classifier = QualityClassifier.load(classifier_dir)
    documents = read_documents(input_glob)
    batch = list(itertools.islice(documents, batch_size))  # an empty glob fails here, first
    count = 0
    with fileio.writing_new(output_path) as out:  # nothing appears if an input is bad
        while batch:
            for (path, index, _), score in zip(batch, classifier.score(t for *_, t in batch)):
                out.write(json.dumps(dict(path=path, index=index, score=float(score))) + "\n")
            count += len(batch)
            batch = list(itertools.islice(documents, batch_size))
    return count


# -- the filter as a data source ---------------------------------------------

class QualitySource(Source):
    """The documents of `source` that GLaM's quality filter keeps: "filtered webpages".

    Each document is scored by the `QualityClassifier` saved in `classifier_dir`
    and kept with probability (2 - score)^-alpha, GPT-3's Pareto rule:
    - an in-memory `TextSource` (embedded, files:) is filtered here, once, by
      `pareto_keep(scores, alpha, seed=FILTER_SEED)` over its train documents
      then its validation ones. `scored` and `kept` count documents, `stats`
      describes the kept ones, and the counts are logged (INFO).
    - any other source (tfds:) is filtered in-graph as it streams, by the same
      rule: a Lomax draw X = U^(-1/alpha) - 1 (inverse CDF, U ~ uniform(0, 1])
      exceeds 1 - score exactly when U < (2 - score)^-alpha, which is what is
      computed. U is stateless, seeded by (FILTER_SEED, a hash of the text), so
      a document is kept or dropped for good, in any order and epoch. Counts
      are unknown in advance: `scored`, `kept` and `stats` are None.
    """

    def __init__(self, source: Source, classifier_dir: str, alpha: float = DEFAULT_ALPHA,
                 spec: Optional[str] = None):
        self.source, self.classifier_dir, self.alpha = source, classifier_dir, alpha
        self.spec = spec or f"quality:{classifier_dir}:{alpha}={source.spec}"
        _check_filter(self.spec, classifier_dir, alpha)
        self.classifier = QualityClassifier.load(os.path.expanduser(classifier_dir))
        self.scored = self.kept = self.stats = self._kept = None
        if not isinstance(source, TextSource):
            self._constants = (tf.constant(self.classifier._weights.numpy()),  # [V]
                               tf.constant(self.classifier._bias.numpy()))  # []
            logger.info("%s: filtering in-graph as documents stream; counts unknown in advance",
                        self.spec)
            return
        texts = source.texts("train") + source.texts("validation")
        scores = self.classifier.score(texts)  # [N]
        keep = pareto_keep(scores, alpha, FILTER_SEED)  # [N]
        self.scored, self.kept = len(texts), int(keep.sum())
        if not self.kept:
            raise DataError(f"{self.spec}: the quality filter kept none of the {len(texts)} "
                            "documents (a smaller alpha keeps more)")
        self._kept = TextSource([t for t, k in zip(texts, keep) if k], self.spec,
                                files=source.stats.files)
        self.stats = self._kept.stats
        logger.info("%s: kept %d of %d documents (%.1f%%); mean quality score %.3f kept, "
                    "%.3f overall", self.spec, self.kept, self.scored,
                    100 * self.kept / self.scored, scores[keep].mean(), scores.mean())

    def documents(self, split: str = "train") -> tf.data.Dataset:
        if self._kept is not None:
            return self._kept.documents(split)
        return self.source.documents(split).filter(self._keep)

    def stream(self, split: str = "train", *, seed: int = 0, shuffle_buffer: int = 10_000,
               repeat: bool = True) -> tf.data.Dataset:
        """The kept documents, ordered as the wrapped source orders its own."""
        if self._kept is not None:
            return self._kept.stream(split, seed=seed, shuffle_buffer=shuffle_buffer,
                                     repeat=repeat)
        return self.source.stream(split, seed=seed, shuffle_buffer=shuffle_buffer,
                                  repeat=repeat).filter(self._keep)

    def _keep(self, text) -> tf.Tensor:
        """Scalar tf.string -> bool []: the streamed filter (class docstring)."""
        cfg = self.classifier.config
        ids = hash_ngrams(text[tf.newaxis], cfg.num_buckets, cfg.ngram_orders)  # [1, (F)]
        score = tf.sigmoid(_logits(ids, *self._constants))[0]
        seed = tf.stack([tf.constant(FILTER_SEED, tf.int64),
                         tf.strings.to_hash_bucket_fast(text, 2 ** 62)])
        return tf.random.stateless_uniform([], seed) < (2.0 - score) ** -self.alpha

    def __repr__(self):
        counts = (f"kept {self.kept} of {self.scored} documents" if self.kept is not None
                  else "filtered as it streams")
        return f"QualitySource({self.spec!r}, {counts})"


def parse_quality_spec(spec: str, *, data_dir: Optional[str] = None,
                       env=None) -> QualitySource:
    """`quality:CLASSIFIER_DIR[:ALPHA]=SPEC` (called by `parse_data_spec`).

    The filtered SPEC follows the first `=`; ALPHA (default 9) is the text after
    the last `:` before it, when that is a number. SPEC may be any spec but a
    mixture: filter a mixture's components instead.
    """
    head, sep, inner = spec.strip().partition(":")[2].partition("=")
    if not (sep and head.strip() and inner.strip()):
        raise DataError(f"data spec {spec!r}: expected quality:CLASSIFIER_DIR[:ALPHA]=SPEC")
    directory, colon, tail = head.rpartition(":")
    if not (colon and directory and _is_number(tail)):
        directory, tail = head, DEFAULT_ALPHA
    if inner.split(":", 1)[0].strip() in ("mix", "glam"):
        raise DataError(f"data spec {spec!r}: cannot filter a mixture; filter its "
                        "components instead (mix:quality:DIR=SPEC=WEIGHT,...)")
    alpha = float(tail)
    _check_filter(f"data spec {spec!r}", directory, alpha)  # before reading the source
    return QualitySource(parse_data_spec(inner.strip(), data_dir=data_dir, env=env),
                         directory, alpha, spec=spec.strip())


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _check_filter(where: str, classifier_dir: str, alpha: float) -> None:
    if not (math.isfinite(alpha) and alpha > 0):
        raise DataError(f"{where}: alpha={alpha:g}: must be a finite number > 0")
    for path in _paths(os.path.expanduser(classifier_dir)):
        if not fileio.isfile(path):
            hint = " (ALPHA, after the last ':', must be a number)" if ":" in classifier_dir else ""
            raise FileNotFoundError(f"{where}: no quality classifier in {classifier_dir!r}: "
                                    f"{path} does not exist; `glam quality train` writes "
                                    f"one{hint}")
