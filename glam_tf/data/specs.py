"""`--data` specs: one table from a spec's kind (the text before the first `:`) to its parser.

  embedded                       the default: real English text shipped with
                                 every install (`glam_tf.data.embedded`)
  files:PATTERN[:FIELD]          `.txt` and `.jsonl` files matched by a glob
                                 (`glam_tf.data.files`)
  tfds:NAME[:VERSION][:SPLIT[:FIELD]]
                                 a TFDS text dataset already prepared on disk
                                 (`glam_tf.data.tfds_source`)
  quality:CLASSIFIER_DIR[:ALPHA]=SPEC
                                 SPEC's documents kept by GLaM's quality filter;
                                 SPEC is any spec but a mixture
                                 (`glam_tf.data.quality_source`)
  mix:SPEC=WEIGHT,...            a weighted mixture (`glam_tf.data.mixture`)
  glam[:COMPONENT=SPEC,...]      GLaM's six-component mixture (ditto)

A new kind is one module with its Source and a `parse_spec(spec, body,
context)` function, plus one entry in `SPEC_KINDS`. Parsers of kinds that
wrap other specs read them through `context`, so no source module imports
this one.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Callable, Mapping, Optional

from glam_tf.data import embedded, files, mixture, quality_source, tfds_source
from glam_tf.data.sources import DataError, Source

DEFAULT_DATA_SPEC = "embedded"


@dataclasses.dataclass(frozen=True)
class SpecKind:
    """One kind of data spec.

    parse: (the whole spec, the text after `name:`, a SpecContext) -> Source.
    mixture: whether its sources mix others (a mixture cannot be a component).
    """

    name: str
    form: str
    parse: Callable[[str, str, "SpecContext"], Source]
    mixture: bool = False


SPEC_KINDS = {kind.name: kind for kind in (
    SpecKind("embedded", "embedded", embedded.parse_spec),
    SpecKind("files", "files:PATTERN[:FIELD]", files.parse_spec),
    SpecKind("tfds", "tfds:NAME[:VERSION][:SPLIT[:FIELD]]", tfds_source.parse_spec),
    SpecKind("quality", "quality:CLASSIFIER_DIR[:ALPHA]=SPEC", quality_source.parse_spec),
    SpecKind("mix", "mix:SPEC=WEIGHT,SPEC=WEIGHT,...", mixture.parse_mix_spec, mixture=True),
    SpecKind("glam", "glam[:COMPONENT=SPEC,...]", mixture.parse_glam_spec, mixture=True),
)}
SPEC_FORMS = tuple(kind.form for kind in SPEC_KINDS.values())


@dataclasses.dataclass(frozen=True)
class SpecContext:
    """What parsers share: the TFDS data_dir and where `glam` finds its components' specs."""

    data_dir: Optional[str]
    env: Mapping[str, str]

    def parse(self, spec: str) -> Source:
        return parse_data_spec(spec, data_dir=self.data_dir, env=self.env)

    def is_mixture(self, spec: str) -> bool:
        kind = SPEC_KINDS.get(spec.split(":", 1)[0].strip())
        return bool(kind and kind.mixture)

    def parse_component(self, spec: str) -> Source:
        """A mixture's component: any spec but a mixture."""
        if self.is_mixture(spec):
            raise DataError(f"mixture component {spec!r}: mixtures cannot be nested")
        return self.parse(spec)


def parse_data_spec(spec: str, *, data_dir: Optional[str] = None,
                    env: Optional[Mapping[str, str]] = None) -> Source:
    """Builds the source a `--data` spec names (syntax in this module's docstring).

    data_dir: TFDS data directory for `tfds:` sources (None: TFDS's default).
    env: where `glam` looks up its components' specs (None: os.environ).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise DataError(f"data spec {spec!r} is empty; expected one of: {', '.join(SPEC_FORMS)}")
    spec = spec.strip()
    name, _, body = spec.partition(":")
    kind = SPEC_KINDS.get(name)
    if kind is None:
        raise DataError(f"data spec {spec!r} is not one of: {', '.join(SPEC_FORMS)}")
    context = SpecContext(data_dir, os.environ if env is None else env)
    return kind.parse(spec, body, context)
