"""The `tfds:NAME[:VERSION][:SPLIT[:FIELD]]` data spec: a TFDS text dataset prepared on disk.

Default split "train", field "text"; FIELD may be a `/` path into nested
features; SPLIT may be a slice such as `train[:10%]`.
"""

from __future__ import annotations

import re
from typing import Mapping, Optional

import tensorflow as tf

from glam_tf.data.sources import DataError, Source, check_split, is_validation

_TFDS_NAME = re.compile(r"[A-Za-z0-9_]+(/[A-Za-z0-9_.\-]+)?")
_TFDS_VERSION = re.compile(r"\d+(\.(\d+|\*)){0,2}")


class TfdsSource(Source):
    """A TFDS dataset's text feature `field` (a `/` path into nested features).

    Train documents come from `split`; validation documents from
    `validation_split`, by default the dataset's `validation` split or else
    its `test` split; with neither (or with the split list unknown), `split`
    itself is divided by hash as for local files.
    """

    def __init__(self, name: str, split: str = "train", field: str = "text", *,
                 validation_split: Optional[str] = None, data_dir: Optional[str] = None,
                 download: bool = False):
        self.name, self.split, self.field = name, split, field
        self.validation_split, self.data_dir, self.download = validation_split, data_dir, download
        self.spec = f"tfds:{name}:{split}:{field}"

    def _load(self, split: str) -> tf.data.Dataset:
        import tensorflow_datasets as tfds

        try:
            return tfds.load(self.name, split=split, data_dir=self.data_dir,
                             download=self.download, shuffle_files=False)
        except tfds.core.registered.DatasetNotFoundError:
            raise DataError(f"{self.spec}: TFDS has no dataset {self.name!r}") from None
        except AssertionError as error:  # TFDS's way to say "not prepared"
            raise DataError(f"{self.spec}: the dataset is not prepared under "
                            f"{self.data_dir or 'the default TFDS data_dir'}; prepare it "
                            f"(`tfds build {self.name}`) or give its data_dir ({error})"
                            ) from None

    def _validation_plan(self) -> Optional[str]:
        """The split that holds validation documents, or None to divide `split` by hash."""
        if self.validation_split:
            return self.validation_split
        import tensorflow_datasets as tfds

        try:
            available = set(tfds.builder(self.name, data_dir=self.data_dir).info.splits)
        except tfds.core.registered.DatasetNotFoundError:
            raise DataError(f"{self.spec}: TFDS has no dataset {self.name!r}") from None
        return next((s for s in ("validation", "test") if s in available and s != self.split),
                    None)

    def documents(self, split: str = "train") -> tf.data.Dataset:
        check_split(split)
        validation = self._validation_plan()
        ds = self._load(validation if split == "validation" and validation else self.split)
        keys = self.field.split("/")
        self._check_field(ds.element_spec, keys)

        def text(example):
            for key in keys:
                example = example[key]
            return example

        ds = ds.map(text, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if validation is None:
            held_out = split == "validation"
            ds = ds.filter(lambda doc: tf.equal(is_validation(doc), held_out))
        return ds.filter(lambda doc: tf.strings.length(tf.strings.strip(doc)) > 0)

    def _check_field(self, spec, keys):
        for key in keys:
            if not isinstance(spec, Mapping) or key not in spec:
                names = ", ".join(sorted(spec)) if isinstance(spec, Mapping) else "(none)"
                raise DataError(f"{self.spec}: no feature {self.field!r}; features: {names}")
            spec = spec[key]
        if not (isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string
                and spec.shape.rank == 0):
            raise DataError(f"{self.spec}: feature {self.field!r} is {spec}, not a scalar string")


def parse_spec(spec: str, body: str, context) -> TfdsSource:
    """`tfds:NAME[:VERSION][:SPLIT[:FIELD]]`, read from `context.data_dir`."""
    parts = _split_outside_brackets(body, ":")
    name = parts.pop(0)
    if not _TFDS_NAME.fullmatch(name):
        raise DataError(f"data spec {spec!r}: {name!r} is not a TFDS name "
                        "(NAME or NAME/CONFIG)")
    if parts and _TFDS_VERSION.fullmatch(parts[0]):
        name += ":" + parts.pop(0)
    if len(parts) > 2 or any(not p for p in parts):
        raise DataError(f"data spec {spec!r}: expected tfds:NAME[:VERSION][:SPLIT[:FIELD]]")
    split, field = (parts + ["train", "text"][len(parts):])[:2]
    return TfdsSource(name, split, field, data_dir=context.data_dir)


def _split_outside_brackets(text: str, separator: str) -> list:
    """Splits at `separator` except inside [...] (TFDS slices: `train[:10%]`)."""
    parts, depth, current = [], 0, []
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if char == separator and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts
