"""Runs an export the way a server does: without glam_tf, with only tensorflow and tensorflow_text.

Started by test_conformance.py as `python -I -S isolated_serving.py JOB.json`:
-S skips site-packages' .pth files (so the editable glam_tf install is not on
the path) and the job lists the directories to import tensorflow from. Writes
a JSON report to job["report"]:
  glam_tf_import_error  the message of `import glam_tf` failing here
  ops, unregistered_ops, dtensor_ops, glam_ops, xla_functions (jit_compile=True)
  signatures            {key: method name, inputs and outputs with dtypes, defaults}
  outputs               {key: outputs of loaded.signatures[key](**job inputs)}
  restored_defaults     serving_default as a restored function with prompts only
  session_defaults      serving_default in a TF1 Session fed prompts only, the other
                        inputs from the SignatureDef's defaults (TF Serving's Predict)
  foreign_modules       modules imported from the repository (must be none)
"""

import json
import os
import sys


def main(job_path):
    with open(job_path) as f:
        job = json.load(f)
    sys.path.extend(job["site_packages"])
    report = {}
    try:
        import glam_tf  # noqa: F401
        report["glam_tf_import_error"] = None
    except ImportError as error:
        report["glam_tf_import_error"] = str(error)

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  registers the SentencePiece ops
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.framework import op_def_registry

    export_dir = job["export_dir"]
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    ops, xla_functions = set(), []
    for meta_graph in saved_model.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
            if "_XlaMustCompile" in function.attr and function.attr["_XlaMustCompile"].b:
                xla_functions.append(function.signature.name)
    report["ops"] = sorted(ops)
    report["unregistered_ops"] = sorted(op for op in ops if op_def_registry.get(op) is None)
    report["dtensor_ops"] = sorted(op for op in ops if any(
        word in op for word in ("DTensor", "Relayout", "CopyToMesh")))
    report["glam_ops"] = sorted(op for op in ops if "glam" in op.lower())
    report["xla_functions"] = xla_functions

    meta_graph = saved_model.meta_graphs[0]
    report["signatures"] = {
        key: {"method_name": sig.method_name,
              "inputs": {k: tf.dtypes.as_dtype(v.dtype).name for k, v in sig.inputs.items()},
              "outputs": {k: tf.dtypes.as_dtype(v.dtype).name for k, v in sig.outputs.items()},
              "defaults": {k: tf.make_ndarray(v).tolist() for k, v in sig.defaults.items()}}
        for key, sig in meta_graph.signature_def.items() if not key.startswith("__")}

    loaded = tf.saved_model.load(export_dir)
    report["outputs"] = {}
    for key, inputs in job["inputs"].items():
        function = loaded.signatures[key]
        specs = function.structured_input_signature[1]
        tensors = {name: tf.constant(value, specs[name].dtype) for name, value in inputs.items()}
        report["outputs"][key] = _plain(function(**tensors))

    prompts = job["inputs"]["serving_default"]["prompts"]
    report["restored_defaults"] = _plain(loaded.serving_default(tf.constant(prompts)))
    report["session_defaults"] = _run_in_session(tf, export_dir, meta_graph, prompts)

    root = job["repository"]
    report["foreign_modules"] = sorted(
        name for name, module in list(sys.modules.items())
        if (getattr(module, "__file__", None) or "").startswith(root)
        and os.path.abspath(module.__file__) != os.path.abspath(__file__))
    with open(job["report"], "w") as f:
        json.dump(report, f)


def _run_in_session(tf, export_dir, meta_graph, prompts):
    """Predict as TF Serving runs it: feeds for the request's inputs, defaults for the rest."""
    signature = meta_graph.signature_def["serving_default"]
    request = {"prompts": tf.make_tensor_proto(prompts)}
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        feeds = {info.name: tf.make_ndarray(request[alias] if alias in request
                                            else signature.defaults[alias])
                 for alias, info in signature.inputs.items()}
        aliases = sorted(signature.outputs)
        values = session.run([signature.outputs[a].name for a in aliases], feeds)
    return _plain(dict(zip(aliases, values)))


def _plain(outputs):
    result = {}
    for name, value in outputs.items():
        value = value.numpy() if hasattr(value, "numpy") else value
        if value.dtype == object:
            value = [v.decode("utf-8") for v in value.reshape(-1)]
        else:
            value = value.tolist()
        result[name] = value
    return result


if __name__ == "__main__":
    main(sys.argv[1])
