"""TF Serving's Predict in this process, over the export as the model server loads it.

`SessionPredictor` answers gRPC PredictRequests; `rest_server` puts it behind
TF Serving's REST API (POST /v1/models/<name>:predict, columnar "inputs" in,
{"outputs": ...} or {"error": ...} out) on a loopback port. Tests of the
clients and of the REST evaluation backend talk to these instead of a
tensorflow_model_server binary, which this machine cannot install.
"""

import contextlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import tensorflow as tf


class SessionPredictor:
    """TF Serving's Predict, in Python: the SavedModel in a TF1 Session (as the model server
    loads it), the request's inputs fed, a missing one from the SignatureDef's defaults, and
    every output fetched (tensorflow_serving/servables/tensorflow/predict_util.cc)."""

    def __init__(self, export_dir):
        self.graph = tf.Graph()
        self.session = tf.compat.v1.Session(graph=self.graph)
        with self.graph.as_default():
            meta_graph = tf.compat.v1.saved_model.loader.load(self.session, ["serve"],
                                                              str(export_dir))
        self.signatures = meta_graph.signature_def

    def predict(self, request):
        from tensorflow_serving.apis import predict_pb2

        key = request.model_spec.signature_name or "serving_default"
        signature = self.signatures[key]
        unknown = set(request.inputs) - set(signature.inputs)
        if unknown:
            raise ValueError(f"input size does not match signature: {sorted(unknown)}")
        feeds = {}
        for alias, info in signature.inputs.items():
            if alias in request.inputs:
                proto = request.inputs[alias]
            elif alias in signature.defaults:
                proto = signature.defaults[alias]
            else:
                raise ValueError(f"Signature input alias: {alias} not found in request and "
                                 "no default value provided")
            feeds[info.name] = tf.make_ndarray(proto)
        aliases = sorted(signature.outputs)
        values = self.session.run([signature.outputs[a].name for a in aliases], feeds)
        response = predict_pb2.PredictResponse()
        response.model_spec.CopyFrom(request.model_spec)
        for alias, value in zip(aliases, values):
            response.outputs[alias].CopyFrom(tf.make_tensor_proto(value))
        return response


def json_value(array):
    """A numpy output as TF Serving's REST API writes it (strings as UTF-8 text)."""
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode(), otypes=[object])(array).tolist()
    return array.tolist()


@contextlib.contextmanager
def rest_server(predictor, model_name):
    """Yields the base URL of a loopback HTTP server speaking TF Serving's REST Predict."""
    from tensorflow_serving.apis import predict_pb2

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path != f"/v1/models/{model_name}:predict":
                return self._answer(404, {"error": f"Servable not found for request: {self.path}"})
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            key = body.get("signature_name", "serving_default")
            request = predict_pb2.PredictRequest()
            request.model_spec.name = model_name
            request.model_spec.signature_name = key
            try:
                for name, value in body["inputs"].items():
                    dtype = tf.dtypes.as_dtype(predictor.signatures[key].inputs[name].dtype)
                    request.inputs[name].CopyFrom(tf.make_tensor_proto(value, dtype))
                outputs = predictor.predict(request).outputs
            except (tf.errors.InvalidArgumentError, KeyError, ValueError) as error:
                return self._answer(400, {"error": getattr(error, "message", str(error))})
            self._answer(200, {"outputs": {k: json_value(tf.make_ndarray(v))
                                           for k, v in outputs.items()}})

        def _answer(self, code, answer):
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
