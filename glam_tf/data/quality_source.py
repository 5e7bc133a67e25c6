"""The `quality:CLASSIFIER_DIR[:ALPHA]=SPEC` data spec: documents GLaM's quality filter keeps.

Each document of SPEC is scored by a saved `QualityClassifier` and kept by
GPT-3's Pareto rule (`glam_tf.data.pareto`).
"""

import logging
import math
import os
from typing import Optional

import tensorflow as tf

from glam_tf import fileio
from glam_tf.data.pareto import DEFAULT_ALPHA, keep_in_graph, pareto_keep
from glam_tf.data.quality_classifier import QualityClassifier, hash_ngrams, logits, saved_paths
from glam_tf.data.sources import DataError, Source, TextSource, is_number

logger = logging.getLogger(__name__)

FILTER_SEED = 0  # fixed, so that a spec keeps the same documents on every run


class QualitySource(Source):
    """The documents of `source` that GLaM's quality filter keeps: "filtered webpages".

    Each document is scored by the `QualityClassifier` saved in `classifier_dir`
    and kept with probability (2 - score)^-alpha, GPT-3's Pareto rule:
    - an in-memory `TextSource` (embedded, files:) is filtered here, once, by
      `pareto_keep(scores, alpha, seed=FILTER_SEED)` over its train documents
      then its validation ones. `scored` and `kept` count documents, `stats`
      describes the kept ones, and the counts are logged (INFO).
    - any other source (tfds:) is filtered in-graph as it streams, by the same
      rule (`glam_tf.data.pareto.keep_in_graph`, seeded by FILTER_SEED). Counts
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
        score = tf.sigmoid(logits(ids, *self._constants))[0]
        return keep_in_graph(score, text, self.alpha, FILTER_SEED)

    def __repr__(self):
        counts = (f"kept {self.kept} of {self.scored} documents" if self.kept is not None
                  else "filtered as it streams")
        return f"QualitySource({self.spec!r}, {counts})"


def parse_spec(spec: str, body: str, context) -> QualitySource:
    """`quality:CLASSIFIER_DIR[:ALPHA]=SPEC`; `context` parses SPEC.

    The filtered SPEC follows the first `=`; ALPHA (default 9) is the text after
    the last `:` before it, when that is a number. SPEC may be any spec but a
    mixture: filter a mixture's components instead.
    """
    head, sep, inner = body.partition("=")
    if not (sep and head.strip() and inner.strip()):
        raise DataError(f"data spec {spec!r}: expected quality:CLASSIFIER_DIR[:ALPHA]=SPEC")
    directory, colon, tail = head.rpartition(":")
    if not (colon and directory and is_number(tail)):
        directory, tail = head, DEFAULT_ALPHA
    if context.is_mixture(inner):
        raise DataError(f"data spec {spec!r}: cannot filter a mixture; filter its "
                        "components instead (mix:quality:DIR=SPEC=WEIGHT,...)")
    alpha = float(tail)
    _check_filter(f"data spec {spec!r}", directory, alpha)  # before reading the source
    return QualitySource(context.parse(inner.strip()), directory, alpha, spec=spec)


def _check_filter(where: str, classifier_dir: str, alpha: float) -> None:
    if not (math.isfinite(alpha) and alpha > 0):
        raise DataError(f"{where}: alpha={alpha:g}: must be a finite number > 0")
    for path in saved_paths(os.path.expanduser(classifier_dir)):
        if not fileio.isfile(path):
            hint = " (ALPHA, after the last ':', must be a number)" if ":" in classifier_dir else ""
            raise FileNotFoundError(f"{where}: no quality classifier in {classifier_dir!r}: "
                                    f"{path} does not exist; `glam quality train` writes "
                                    f"one{hint}")
