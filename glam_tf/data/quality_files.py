"""`glam quality train` and `glam quality score`: the quality classifier over files."""

import itertools
import json
from typing import Iterator

from glam_tf import fileio
from glam_tf.data.quality_classifier import (QualityClassifier, QualityConfig, QualityReport,
                                             saved_paths)
from glam_tf.jsonl import read_objects


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
