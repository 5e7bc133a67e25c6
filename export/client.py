"""Requests to, and answers from, an exported GLaM model on TF Serving (gRPC and REST).

    request = predict_request("glam", "serving_default", prompts=["Once"], max_new_tokens=32)
    outputs = parse_predict_response(stub.Predict(request))   # {"completions": ..., ...}

    body = rest_body("score", prompts=["2+2="], continuations=["4"])
    outputs = parse_rest_response(requests.post(url, json=body).json(), "score")

Every request carries every input of its signature: optional ones the caller
leaves out get the defaults in `spec.SIGNATURES` (temperature 0, top_k 0,
top_p 1, seed 0); `max_new_tokens`, whose server-side default is the export's
limit, must be given. Answers come back as numpy arrays with the signature's
dtypes (strings as bytes, as TensorFlow returns them).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2

from glam_tf.export import spec


class ServingError(ValueError):
    """The server answered with an error: `str()` is its one line that says what, `details` all.

    TensorFlow's messages around that line name the graph node that failed
    (`[[{{node ...}}]]`) and, from a Python server, where it was defined. A
    ValueError, as the request is what was wrong: `glam eval` prints one line.
    """

    def __init__(self, message, code=None):
        self.details = str(message)
        lines = [line.strip() for line in self.details.splitlines() if line.strip()]
        said = [line for line in lines if not line.startswith(_TF_CONTEXT)]
        line = (said or lines or [self.details])[0]
        super().__init__(f"{code}: {line}" if code else line)


# Lines of a TensorFlow error that say where, not what.
_TF_CONTEXT = ("Graph execution error", "Detected at node", "File ", "[[", "[Op:")


class UnreachableError(ValueError):
    """Nothing answers at the server's address (refused, unknown host, timed out)."""


def request_values(signature_name, inputs: dict) -> dict:
    """{input name: numpy array of the signature's dtype}, defaults filled in."""
    signature = _signature(signature_name)
    unknown = sorted(set(inputs) - {t.name for t in signature.inputs})
    if unknown:
        raise ValueError(f"{signature_name} has no input {unknown[0]!r}; its inputs are "
                         f"{', '.join(t.name for t in signature.inputs)}")
    values = {}
    for t in signature.inputs:
        if t.name in inputs:
            value = inputs[t.name]
        elif t.default is not None:
            value = t.default
        else:
            raise ValueError(f"{signature_name} needs the input {t.name!r}")
        if t.dtype == "string":
            array = _bytes_array(value)
        else:
            array = np.asarray(value, dtype=t.dtype)
        if array.ndim != len(t.shape):
            raise ValueError(f"{signature_name} input {t.name!r} must have rank {len(t.shape)}"
                             f" (shape {_shape_text(t.shape)}), got shape {array.shape}")
        values[t.name] = array
    return values


def predict_request(model_name, signature_name, /, version=None, **inputs):
    """A gRPC PredictRequest (tensorflow_serving.apis.predict_pb2) for one signature."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, array in request_values(signature_name, inputs).items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return request


def parse_predict_response(response) -> dict:
    """{output name: numpy array} from a PredictResponse."""
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def rest_body(signature_name, /, **inputs) -> dict:
    """The JSON body (columnar "inputs" form) for POST /v1/models/<name>:predict."""
    values = request_values(signature_name, inputs)
    return {"signature_name": signature_name,
            "inputs": {name: _to_json(array) for name, array in values.items()}}


def parse_rest_response(body, signature_name) -> dict:
    """{output name: numpy array} from the REST answer (a dict, or its JSON text)."""
    if isinstance(body, (str, bytes)):
        body = json.loads(body)
    if "error" in body:
        raise ServingError(body["error"])
    signature = _signature(signature_name)
    outputs = body["outputs"]
    if not isinstance(outputs, dict) or len(signature.outputs) == 1:
        outputs = {signature.outputs[0].name: outputs}  # one output comes unnamed
    result = {}
    for name, value in outputs.items():
        dtype = signature.output(name).dtype
        if dtype == "string":
            result[name] = _bytes_array(value)
        else:
            result[name] = np.asarray(value, dtype=dtype)
    return result


class _Client:
    """The signatures by name; subclasses send `predict(signature_name, **inputs)`."""

    def predict(self, signature_name, /, **inputs) -> dict:
        raise NotImplementedError

    def generate(self, prompts, max_new_tokens, **sampling) -> dict:
        return self.predict("serving_default", prompts=prompts, max_new_tokens=max_new_tokens,
                            **sampling)

    def score(self, prompts, continuations) -> dict:
        return self.predict("score", prompts=prompts, continuations=continuations)

    def score_candidates(self, prompts, candidates) -> dict:
        return self.predict("score_candidates", prompts=prompts, candidates=candidates)


class GrpcClient(_Client):
    """Calls a served model over gRPC: `GrpcClient("localhost:8500", "glam").generate(["Hi"], 32)`.

    Errors from the server (a failed bound check, say) raise ServingError.
    """

    def __init__(self, target, model_name, timeout=300.0, channel=None):
        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        self.model_name = model_name
        self.timeout = timeout
        self._channel = channel or grpc.insecure_channel(target)
        self._stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)

    def predict(self, signature_name, /, **inputs) -> dict:
        import grpc

        request = predict_request(self.model_name, signature_name, **inputs)
        try:
            response = self._stub.Predict(request, timeout=self.timeout)
        except grpc.RpcError as error:
            raise ServingError(error.details(), code=error.code().name) from error
        return parse_predict_response(response)

    def close(self):
        self._channel.close()


class RestClient(_Client):
    """Calls a served model over REST: `RestClient("http://localhost:8501", "glam").score(...)`."""

    def __init__(self, base_url, model_name, timeout=300.0):
        self.base_url = base_url.rstrip("/")
        self.url = f"{self.base_url}/v1/models/{model_name}:predict"
        self.timeout = timeout

    def predict(self, signature_name, /, **inputs) -> dict:
        data = json.dumps(rest_body(signature_name, **inputs)).encode()
        request = urllib.request.Request(self.url, data=data,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return parse_rest_response(answer.read(), signature_name)
        except urllib.error.HTTPError as error:
            return parse_rest_response(error.read(), signature_name)
        except (urllib.error.URLError, OSError) as error:
            raise self._unreachable(error) from None

    def check_reachable(self, timeout=10.0) -> None:
        """Raises UnreachableError unless something answers HTTP at the base URL (any answer).

        A wrong model name shows at the first request, as the server's "Servable
        not found" (a ServingError).
        """
        try:
            urllib.request.urlopen(self.base_url, timeout=min(timeout, self.timeout)).close()
        except urllib.error.HTTPError:
            pass  # an HTTP error is an answer: the server is there
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise self._unreachable(error) from None

    def _unreachable(self, error) -> UnreachableError:
        reason = getattr(error, "reason", None) or error
        return UnreachableError(f"{self.base_url}: no server answers there ({reason}); is TF "
                                "Serving running, with its REST port (--rest_api_port)?")


def _signature(name):
    if name not in spec.SIGNATURES:
        raise ValueError(f"no signature {name!r}; the export has {', '.join(spec.SIGNATURES)}")
    return spec.SIGNATURES[name]


def _bytes_array(value):
    """Strings (str or bytes, nested lists) -> an object array of UTF-8 bytes."""
    encode = lambda v: v.encode("utf-8") if isinstance(v, str) else bytes(v)
    return np.vectorize(encode, otypes=[object])(np.asarray(value, dtype=object))


def _to_json(array):
    if array.dtype == object:
        return np.vectorize(lambda b: b.decode("utf-8"), otypes=[object])(array).tolist()
    return array.tolist()


def _shape_text(shape):
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
