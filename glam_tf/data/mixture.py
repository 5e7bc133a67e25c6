"""Weighted mixtures of document sources, and GLaM's six-component preset.

Spec syntax:

  mix:SPEC=WEIGHT,SPEC=WEIGHT,...
      e.g. `mix:embedded=0.7,files:/x/*.jsonl:body=0.3`. Each component is any
      spec but a mixture, followed by `=WEIGHT` (a number > 0; weights are
      normalized to sum to 1). The weight follows the last `=`, so component
      specs may hold `:` and `=`; a `,` inside a component spec is kept as long
      as the text before it does not end in `=NUMBER`.

  glam[:COMPONENT=SPEC,...]
      GLaM's mixture (paper, Table 3), one source per component of
      GLAM_COMPONENTS. Each component's spec comes from the spec itself
      (`glam:books=files:/b/*.txt,news=tfds:cnn_dailymail:train:article`) or
      else from the environment variable GLAM_DATA_<COMPONENT>
      (`GLAM_DATA_BOOKS=...`); a component given by neither is an error that
      lists what every component needs.

Sampling: each draw picks a component with probability equal to its weight,
then that component's next document. The choices are drawn statelessly from
(seed, draw index), and each component streams its own documents with seed
`seed + 1 + i`, so the sequence depends on `seed` alone (and on TF's global
seed only through TFDS shuffle buffers) and the iterator is checkpointable.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Mapping, Optional, Sequence

import tensorflow as tf

from glam_tf.data.sources import DataError, Source, is_number

_CHOICES_PER_DRAW = 1024  # categorical samples drawn per stateless RNG call


class Mixture(Source):
    """Documents drawn from `sources` with probabilities `weights` (normalized)."""

    def __init__(self, sources: Sequence[Source], weights: Sequence[float],
                 names: Optional[Sequence[str]] = None, spec: Optional[str] = None):
        if not sources or len(sources) != len(weights):
            raise DataError(f"a mixture needs one weight per source; got {len(sources)} "
                            f"source(s) and {len(weights)} weight(s)")
        for source, weight in zip(sources, weights):
            if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight > 0):
                raise DataError(f"mixture weight {weight!r} of {source.spec}: must be a "
                                "finite number > 0")
        total = float(sum(weights))
        self.sources = tuple(sources)
        self.weights = tuple(float(w) / total for w in weights)
        self.names = tuple(names) if names else tuple(s.spec for s in sources)
        self.spec = spec or "mix:" + ",".join(f"{s.spec}={w:g}"
                                              for s, w in zip(sources, weights))

    def documents(self, split: str = "train") -> tf.data.Dataset:
        """Every component's documents once, interleaved by weight (seed 0)."""
        return self._sample([s.documents(split) for s in self.sources], seed=0)

    def stream(self, split: str = "train", *, seed: int = 0, shuffle_buffer: int = 10_000,
               repeat: bool = True) -> tf.data.Dataset:
        """Weighted draws from the components' own shuffled streams.

        repeat=False reads each component once; once a component runs out,
        the draws continue over the others until all are exhausted.
        """
        streams = [source.stream(split, seed=seed + 1 + i, shuffle_buffer=shuffle_buffer,
                                 repeat=repeat)
                   for i, source in enumerate(self.sources)]
        return self._sample(streams, seed)

    def component_choices(self, seed: int) -> tf.data.Dataset:
        """The endless int64 stream of component indices that `stream(seed=...)` follows."""
        logits = tf.math.log(tf.constant([self.weights], tf.float32))

        def draw(index):
            seeds = tf.stack([tf.constant(seed, tf.int64), index])
            return tf.random.stateless_categorical(logits, _CHOICES_PER_DRAW, seeds,
                                                   dtype=tf.int64)[0]

        return tf.data.Dataset.counter().map(draw).unbatch()

    def _sample(self, datasets, seed) -> tf.data.Dataset:
        return tf.data.Dataset.choose_from_datasets(
            datasets, self.component_choices(seed), stop_on_empty_dataset=False)


def parse_mix_components(body: str) -> list:
    """`SPEC=WEIGHT,SPEC=WEIGHT` -> [(spec, weight)]; see the module docstring."""
    items, pending = [], ""
    for piece in body.split(","):
        if not (pending or piece.strip()):
            raise DataError("an empty component: a trailing comma, or two in a row")
        pending = f"{pending},{piece}" if pending else piece
        spec, sep, weight = pending.rpartition("=")
        if sep and is_number(weight):
            items.append((spec.strip(), float(weight)))
            pending = ""
    if pending.strip():
        raise DataError(f"mixture component {pending!r} has no =WEIGHT")
    return items


# -- GLaM's mixture ---------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GlamComponent:
    """One part of GLaM's training mixture and the source it expects."""

    name: str
    weight: float
    description: str
    example: str  # a spec that fits, when the data is at hand

    @property
    def env_var(self) -> str:
        return f"GLAM_DATA_{self.name.upper()}"


# The paper's weights (Table 3); its corpora are not public, so each
# component names a public stand-in to prepare and pass in.
GLAM_COMPONENTS = (
    GlamComponent("webpages", 0.42, "filtered webpages: a web crawl kept by a quality "
                  "classifier", "tfds:c4/en:3.1.0:train:text"),
    GlamComponent("wikipedia", 0.06, "Wikipedia articles",
                  "tfds:wikipedia/20230601.en:1.0.0:train:text"),
    GlamComponent("conversations", 0.28, "public-domain social media conversations",
                  "files:/data/conversations/*.jsonl:text"),
    GlamComponent("forums", 0.02, "forum threads", "files:/data/forums/*.jsonl:text"),
    GlamComponent("books", 0.20, "books", "tfds:pg19:0.1.1:train:book_text"),
    GlamComponent("news", 0.02, "news articles", "tfds:cnn_dailymail:3.4.0:train:article"),
)


def glam_mixture(specs: Mapping[str, str], context) -> Mixture:
    """GLaM's six-component mixture; `specs` (component name -> spec) wins over `context.env`.

    `context` (`glam_tf.data.specs.SpecContext`) parses each component's spec.
    """
    names = [c.name for c in GLAM_COMPONENTS]
    unknown = sorted(set(specs) - set(names))
    if unknown:
        raise DataError(f"glam has no component {unknown[0]!r}; components: {', '.join(names)}")
    chosen = {c.name: specs.get(c.name) or context.env.get(c.env_var) for c in GLAM_COMPONENTS}
    if not all(chosen.values()):
        lines = [f"  {c.name:<14} weight {c.weight:.2f}  {c.description}; "
                 f"{'given: ' + chosen[c.name] if chosen[c.name] else 'MISSING'}; "
                 f"set {c.env_var} or glam:{c.name}=SPEC, e.g. {c.example}"
                 for c in GLAM_COMPONENTS]
        missing = ", ".join(name for name, spec in chosen.items() if not spec)
        raise DataError(f"glam: no source for {missing}. Each component needs a data spec:\n"
                        + "\n".join(lines))
    sources = [context.parse_component(chosen[c.name])
               for c in GLAM_COMPONENTS]
    spec = "glam:" + ",".join(f"{c.name}={chosen[c.name]}" for c in GLAM_COMPONENTS)
    return Mixture(sources, [c.weight for c in GLAM_COMPONENTS], names=names, spec=spec)


def parse_mix_spec(spec: str, body: str, context) -> Mixture:
    """`mix:SPEC=WEIGHT,...` (module docstring); `context` parses the components."""
    if not body.strip():
        raise DataError(f"data spec {spec!r}: expected mix:SPEC=WEIGHT,SPEC=WEIGHT,...")
    try:
        items = parse_mix_components(body)
    except DataError as error:
        raise DataError(f"data spec {spec!r}: {error}") from None
    sources = [_parse_component(spec, component, context) for component, _ in items]
    return Mixture(sources, [w for _, w in items], names=[s for s, _ in items], spec=spec)


def _parse_component(spec: str, component: str, context) -> Source:
    """A component's source; a failure that a bad weight explains names that weight.

    The weight follows the last `=`, so in `embedded=abc,files:x=1` the piece
    `embedded=abc` has none and joins the next piece as one component spec;
    when that spec fails, the error says that `abc` is not a weight.
    """
    try:
        return context.parse_component(component)
    except (DataError, FileNotFoundError) as error:
        head, sep, tail = component.split(",", 1)[0].rpartition("=")
        if "," not in component or not sep or is_number(tail):
            raise
        raise DataError(f"data spec {spec!r}: {tail.strip()!r} is not a weight (a number "
                        f"> 0) for {head.strip()!r}; read with the text after the comma "
                        f"as one component spec instead, it fails: {error}") from None


def parse_glam_spec(spec: str, body: str, context) -> Mixture:
    """`glam[:COMPONENT=SPEC,...]` (module docstring)."""
    return glam_mixture(_parse_glam_overrides(spec, body), context)


def _parse_glam_overrides(spec: str, body: str) -> dict:
    if not body.strip():
        return {}
    names = "|".join(c.name for c in GLAM_COMPONENTS)
    # Cut only at a comma that starts the next `component=`.
    pieces = re.split(rf",(?=\s*(?:{names})\s*=)", body)
    overrides = {}
    for piece in pieces:
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not sep or not value.strip():
            raise DataError(f"data spec {spec!r}: {piece!r} is not COMPONENT=SPEC")
        if name in overrides:
            raise DataError(f"data spec {spec!r}: component {name!r} is given twice")
        overrides[name] = value.strip()
    return overrides
