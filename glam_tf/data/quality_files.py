"""`glam quality train` and `glam quality score`: the quality classifier over files."""

import itertools
import json
import logging
from typing import Iterator

from glam_tf import fileio
from glam_tf.data.files import file_documents, match_files
from glam_tf.data.quality_classifier import (QualityClassifier, QualityConfig, QualityReport,
                                             saved_paths)

logger = logging.getLogger(__name__)


def read_documents(pattern: str) -> Iterator[tuple]:
    """Yields (path, index, text) for every document of the files matching `pattern`.

    Files are read as the `files:` data spec reads them (`glam_tf.data.files`):
    sorted, UTF-8 with an optional byte-order mark, undecodable bytes as U+FFFD
    (logged as a warning). A `.txt` file is one document (index 0); a `.jsonl`
    file holds one JSON object with a string "text" field per line, and index
    counts its non-blank lines from 0. A bad line is a DataError naming file and line.
    """
    for path in match_files(pattern, pattern):
        documents, replaced = file_documents(path)
        if replaced:
            logger.warning("%s: replaced %d undecodable byte sequence(s) with U+FFFD",
                           path, replaced)
        for index, text in enumerate(documents):
            yield path, index, text


def train_from_files(positive_glob: str, negative_glob: str, output_dir: str,
                     validation_fraction: float = 0.1, **options) -> QualityReport:
    """Trains on curated (positive) vs web (negative) files; saves to `output_dir`.

    `options` are `QualityConfig` fields; the held-out report is returned, not saved.
    """
    if fileio.exists(config_path := saved_paths(output_dir)[0]):  # fail now, not after training
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
