"""Training data: sources chosen by a `--data` spec, mixtures, packing, the input pipeline."""

from glam_tf.data.mixture import GLAM_COMPONENTS, GlamComponent, Mixture, glam_mixture
from glam_tf.data.packing import pack_token_stream
from glam_tf.data.pipeline import make_dataset, tokenize_documents
from glam_tf.data.quality import QualitySource
from glam_tf.data.sources import (DEFAULT_DATA_SPEC, SPLITS, VALIDATION_FRACTION, DataError,
                                  EmbeddedSource, FilesSource, Source, SourceStats,
                                  TextSource, TfdsSource, embedded_documents, is_validation,
                                  parse_data_spec)

__all__ = ["DEFAULT_DATA_SPEC", "SPLITS", "VALIDATION_FRACTION", "DataError",
           "EmbeddedSource", "FilesSource", "GLAM_COMPONENTS", "GlamComponent", "Mixture",
           "QualitySource", "Source", "SourceStats", "TextSource", "TfdsSource",
           "embedded_documents", "glam_mixture", "is_validation", "make_dataset",
           "pack_token_stream", "parse_data_spec", "tokenize_documents"]
