"""Training data: sources chosen by a `--data` spec, mixtures, packing, the input pipeline."""

from glam_tf.data.embedded import EmbeddedSource, embedded_documents
from glam_tf.data.files import FilesSource
from glam_tf.data.mixture import GLAM_COMPONENTS, GlamComponent, Mixture
from glam_tf.data.packing import pack_token_stream
from glam_tf.data.pipeline import make_dataset, tokenize_documents
from glam_tf.data.quality_source import QualitySource
from glam_tf.data.sources import (SPLITS, VALIDATION_FRACTION, DataError, Source, SourceStats,
                                  TextSource, is_validation)
from glam_tf.data.specs import DEFAULT_DATA_SPEC, SPEC_KINDS, parse_data_spec
from glam_tf.data.tfds_source import TfdsSource

__all__ = ["DEFAULT_DATA_SPEC", "SPEC_KINDS", "SPLITS", "VALIDATION_FRACTION", "DataError",
           "EmbeddedSource", "FilesSource", "GLAM_COMPONENTS", "GlamComponent", "Mixture",
           "QualitySource", "Source", "SourceStats", "TextSource", "TfdsSource",
           "embedded_documents", "is_validation", "make_dataset", "pack_token_stream",
           "parse_data_spec", "tokenize_documents"]
