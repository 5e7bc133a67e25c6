"""SavedModel export for TF Serving (installed as `glam_tf.export`).

`export_model(model_dir, export_base, name)` writes `export_base/name/<version>/`
(the `glam export` command); `spec.SIGNATURES` lists every signature's inputs
and outputs; `client` builds gRPC and REST requests and reads the answers.
See docs/serving.md.
"""

from glam_tf.export.exporter import export_model
from glam_tf.export.spec import SIGNATURES

__all__ = ["export_model", "SIGNATURES"]
