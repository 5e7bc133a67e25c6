"""glam_tf.export.client: requests in, answers out, over gRPC protos and REST JSON."""

import json
from concurrent import futures

import grpc
import numpy as np
import pytest
import tensorflow as tf
from loopback_serving import json_value, rest_server
from serving_helpers import NAME, PROMPTS, assert_same_outputs
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from glam_tf.export import client, spec

INPUTS = {
    "serving_default": {"prompts": PROMPTS[:2], "max_new_tokens": 4, "temperature": 0.7,
                        "seed": 5},
    "beam": {"prompts": PROMPTS[:2], "max_new_tokens": 3},
    "score": {"prompts": PROMPTS[:2], "continuations": [" jumps", "é ü"]},
    "score_candidates": {"prompts": PROMPTS[:2], "candidates": [[" jumps", "é ü"], [" a", ""]]},
    "generate_ids": {"prompt_ids": [[0, 1, 7], [1, 8, 9]], "prompt_mask": [[0, 1, 1], [1, 1, 1]],
                     "max_new_tokens": 4},
    "score_ids": {"prompt_ids": [[0, 1, 7], [1, 8, 9]], "prompt_mask": [[0, 1, 1], [1, 1, 1]],
                  "continuation_ids": [[5, 0], [6, 7]], "continuation_mask": [[1, 0], [1, 1]]},
}


def _run(loaded, key, arrays):
    return {name: value.numpy() for name, value in loaded.signatures[key](**arrays).items()}


@pytest.mark.parametrize("key", list(spec.SIGNATURES))
def test_grpc_request_and_response_round_trip_through_the_loaded_signature(loaded, key):
    request = client.predict_request(NAME, key, **INPUTS[key])
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())  # the wire
    assert (request.model_spec.name, request.model_spec.signature_name) == (NAME, key)
    assert set(request.inputs) == {t.name for t in spec.SIGNATURES[key].inputs}
    outputs = _run(loaded, key, {k: tf.make_ndarray(v) for k, v in request.inputs.items()})
    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(value))
    response = predict_pb2.PredictResponse.FromString(response.SerializeToString())
    parsed = client.parse_predict_response(response)
    assert_same_outputs(parsed, outputs)
    for name, value in parsed.items():
        assert value.dtype == (object if spec.SIGNATURES[key].output(name).dtype == "string"
                               else np.dtype(spec.SIGNATURES[key].output(name).dtype))


@pytest.mark.parametrize("key", list(spec.SIGNATURES))
def test_rest_body_and_answer_round_trip_through_the_loaded_signature(loaded, key):
    body = json.loads(json.dumps(client.rest_body(key, **INPUTS[key])))
    assert body["signature_name"] == key
    specs = loaded.signatures[key].structured_input_signature[1]
    arrays = {name: tf.constant(value, specs[name].dtype) for name, value in body["inputs"].items()}
    outputs = _run(loaded, key, arrays)
    # TF Serving's columnar answer: {"outputs": {name: nested lists}}.
    answer = json.dumps({"outputs": {k: json_value(v) for k, v in outputs.items()}})
    parsed = client.parse_rest_response(answer, key)
    assert_same_outputs(parsed, outputs)
    for name, value in outputs.items():
        np.testing.assert_array_equal(parsed[name], value)  # JSON keeps float32 exactly


def test_requests_fill_defaults_and_reject_bad_inputs():
    request = client.predict_request(NAME, "serving_default", prompts=["a"], max_new_tokens=3)
    values = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
    assert values["temperature"] == 0.0 and values["top_k"] == 0 and values["top_p"] == 1.0
    assert values["seed"] == 0 and values["max_new_tokens"] == 3
    assert values["prompts"].tolist() == [b"a"]
    assert client.predict_request(NAME, "score", version=3, prompts=["a"], continuations=["b"]) \
        .model_spec.version.value == 3
    with pytest.raises(ValueError, match="needs the input 'max_new_tokens'"):
        client.rest_body("serving_default", prompts=["a"])
    with pytest.raises(ValueError, match="has no input 'prompt'"):
        client.rest_body("score", prompt=["a"], continuations=["b"])
    with pytest.raises(ValueError, match="no signature 'generate'"):
        client.rest_body("generate", prompts=["a"])
    with pytest.raises(ValueError, match="must have rank 1"):
        client.predict_request(NAME, "score", prompts="a", continuations=["b"])
    with pytest.raises(client.ServingError, match="too many prompts"):
        client.parse_rest_response('{"error": "assertion failed: [too many prompts"}', "score")


class _PredictionService(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, predictor):
        self.predictor = predictor

    def Predict(self, request, context):
        try:
            return self.predictor.predict(request)
        except tf.errors.InvalidArgumentError as error:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, error.message)


@pytest.mark.slow
def test_grpc_client_against_a_prediction_service_running_the_export(loaded, predictor):
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        _PredictionService(predictor), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        glam = client.GrpcClient(f"127.0.0.1:{port}", NAME, timeout=120)
        got = glam.generate(PROMPTS[:2], 4)
        expected = _run(loaded, "serving_default", {
            k: tf.make_ndarray(v) for k, v in client.predict_request(
                NAME, "serving_default", prompts=PROMPTS[:2], max_new_tokens=4).inputs.items()})
        assert_same_outputs(got, expected)
        scored = glam.score(["2 + 2 ="], [" 4"])
        assert scored["num_tokens"].shape == (1,) and scored["log_likelihood"][0] < 0
        with pytest.raises(client.ServingError, match="(?s)INVALID_ARGUMENT: .*max_batch=4"):
            glam.generate(["a"] * 5, 2)
        glam.close()
    finally:
        server.stop(None)


@pytest.mark.slow
def test_rest_client_against_an_http_server_running_the_export(loaded, predictor):
    with rest_server(predictor, NAME) as url:
        glam = client.RestClient(url, NAME, timeout=120)
        got = glam.score(INPUTS["score"]["prompts"], INPUTS["score"]["continuations"])
        expected = _run(loaded, "score", {k: tf.constant(v) for k, v in INPUTS["score"].items()})
        assert_same_outputs(got, expected)
        assert glam.generate(PROMPTS[:1], 2)["token_ids"].shape == (1, 2)
        with pytest.raises(client.ServingError, match="max_batch=4"):
            glam.score(["a"] * 5, ["b"] * 5)
