import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from glam_tf.config import GlamConfig
from glam_tf.layers import dims
from glam_tf.model import GlamModel
from glam_tf.params import count_parameters
from glam_tf.presets import PRESETS

SMALL = GlamConfig(vocab_size=64, num_layers=2, d_model=32, d_ff=48, num_heads=2, head_dim=8,
                   num_experts=4, group_size=16, max_seq_len=32, min_expert_capacity=1)


def _ids(batch, length, seed=0, vocab=64):
    return tf.constant(np.random.default_rng(seed).integers(1, vocab, size=(batch, length)),
                       tf.int32)


def test_logits_have_vocab_shape_and_float32():
    logits = GlamModel(SMALL)(_ids(2, 12))
    assert logits.shape == (2, 12, SMALL.vocab_size) and logits.dtype == tf.float32


def test_changing_a_future_token_leaves_earlier_logits_unchanged():
    model = GlamModel(SMALL)
    ids = _ids(1, 12).numpy()
    changed = ids.copy()
    changed[0, 7:] = (changed[0, 7:] + 5) % SMALL.vocab_size
    a, b = model(ids), model(changed)
    np.testing.assert_allclose(a[:, :7], b[:, :7], rtol=1e-5, atol=1e-6)
    assert not np.allclose(a[:, 7:], b[:, 7:])


@pytest.mark.parametrize("dispatch", ["gather", "einsum"])
def test_cached_incremental_decoding_reproduces_full_forward_logits(dispatch):
    model = GlamModel(SMALL, dispatch=dispatch)
    ids = _ids(2, 12)
    full = model(ids)
    cache = model.init_cache(2, 16)
    logits, cache = model.extend(ids[:, :5], cache)           # the prompt at once
    steps = [logits]
    for t in range(5, 12):                                    # then token by token
        logits, cache = model.extend(ids[:, t:t + 1], cache)
        steps.append(logits)
    np.testing.assert_allclose(tf.concat(steps, 1), full, rtol=1e-4, atol=1e-4)
    assert int(cache["index"]) == 12


def test_left_padded_prompt_decodes_like_the_unpadded_one():
    model = GlamModel(SMALL)
    ids = _ids(1, 6)
    expected = model(ids)[:, -1]
    padded = tf.concat([tf.zeros([1, 3], tf.int32), ids], axis=1)
    segments = tf.constant([[0, 0, 0, 1, 1, 1, 1, 1, 1]])
    logits, _ = model.extend(padded, model.init_cache(1, 12), segment_ids=segments)
    np.testing.assert_allclose(logits[:, -1], expected, rtol=1e-4, atol=1e-4)


def test_packed_segments_do_not_see_each_other():
    model = GlamModel(SMALL)  # eval routing is dropless: tokens route independently
    first, second = _ids(1, 5, seed=1), _ids(1, 7, seed=2)
    packed = tf.concat([first, second], axis=1)
    segments = tf.constant([[1] * 5 + [2] * 7])
    logits = model(packed, segment_ids=segments)
    np.testing.assert_allclose(logits[:, :5], model(first), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(logits[:, 5:], model(second), rtol=1e-4, atol=1e-4)


def test_padding_is_left_out_of_routing_losses_and_real_logits():
    model = GlamModel(SMALL)
    ids = _ids(1, 8)
    _, aux = model(ids, return_aux=True)
    padded = tf.concat([ids, _ids(1, 4, seed=9)], axis=1)
    segments = tf.constant([[1] * 8 + [0] * 4])
    logits, padded_aux = model(padded, segment_ids=segments, return_aux=True)
    np.testing.assert_allclose(padded_aux["moe_aux_loss"], aux["moe_aux_loss"], rtol=1e-5)
    np.testing.assert_allclose(padded_aux["router_z_loss"], aux["router_z_loss"], rtol=1e-5)
    np.testing.assert_allclose(logits[:, :8], model(ids), rtol=1e-4, atol=1e-4)


def test_gradients_reach_every_weight_including_the_gates():
    model = GlamModel(SMALL)
    ids = _ids(2, 16)
    with tf.GradientTape() as tape:
        logits, aux = model(ids[:, :-1], training=True, return_aux=True)
        loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(
            ids[:, 1:], logits, from_logits=True)) + 0.01 * aux["moe_aux_loss"]
    grads = tape.gradient(loss, model.trainable_weights)
    assert any("router" in w.path for w in model.trainable_weights)
    for weight, grad in zip(model.trainable_weights, grads):
        assert grad is not None and float(tf.reduce_max(tf.abs(grad))) > 0, weight.path


@pytest.mark.parametrize("name", ["glam_tiny", "dense_tiny"])
def test_built_preset_parameter_count_equals_analytic_count(name):
    model = GlamModel(PRESETS[name])
    built = sum(int(np.prod(w.shape)) for w in model.weights)
    assert built == count_parameters(PRESETS[name]).total


@pytest.mark.parametrize("change", [
    dict(tie_embeddings=False), dict(expert_activation="gated_gelu"), dict(top_k=1),
    dict(moe_interval=1), dict(dense_gated_gelu=False), dict(num_experts=0)])
def test_parameter_count_formula_holds_for_variants(change):
    config = dataclasses.replace(SMALL, **change)
    built = sum(int(np.prod(w.shape)) for w in GlamModel(config).weights)
    assert built == count_parameters(config).total


def test_every_weight_has_one_logical_axis_name_per_dimension():
    model = GlamModel(PRESETS["glam_tiny"])
    for weight in model.weights:
        axes = dims.logical_axes(weight)
        assert axes is not None, weight.path
        assert len(axes) == len(weight.shape), weight.path
        assert set(axes) <= set(dims.LOGICAL_AXES), weight.path
    expert_weights = [w for w in model.weights if "moe/w" in w.path]
    assert expert_weights and all(dims.logical_axes(w)[0] == dims.EXPERT for w in expert_weights)


def test_model_round_trips_through_get_config_and_keras_saving(tmp_path):
    config = dataclasses.replace(SMALL, second_expert_policy="random", compute_dtype="float32",
                                 eval_capacity_factor=2.0)
    model = GlamModel(config, dispatch="einsum")
    clone = GlamModel.from_config(model.get_config())
    assert clone.config == config and clone.dispatch == "einsum"
    ids = _ids(2, 8)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(ids), model(ids), rtol=1e-6)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(ids), model(ids), rtol=1e-6)


def test_bfloat16_compute_keeps_float32_weights_and_close_logits():
    full = GlamModel(SMALL)
    half = GlamModel(dataclasses.replace(SMALL, compute_dtype="bfloat16"))
    half.set_weights(full.get_weights())
    assert all(w.dtype == "float32" for w in half.weights)
    ids = _ids(2, 8)
    logits_half, aux = half(ids, return_aux=True)
    assert logits_half.dtype == tf.float32 and np.isfinite(aux["moe_aux_loss"])
    np.testing.assert_allclose(logits_half, full(ids), atol=0.15)


def test_train_step_in_tf_function_reduces_loss_on_a_fixed_batch():
    model = GlamModel(SMALL)
    optimizer = keras.optimizers.Adam(1e-2)
    ids = _ids(4, 16)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            logits, aux = model(ids[:, :-1], training=True, return_aux=True)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
                ids[:, 1:], logits, from_logits=True)) + 0.01 * aux["moe_aux_loss"]
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                      model.trainable_variables))
        return loss

    losses = [float(step()) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0], losses


@pytest.mark.parametrize("change", [dict(), dict(tie_embeddings=False),
                                    dict(expert_activation="gated_gelu"), dict(num_experts=0)])
def test_weight_specs_list_exactly_the_built_weights_with_their_axes(change):
    from glam_tf.params import weight_specs

    config = dataclasses.replace(SMALL, **change)
    model = GlamModel(config)
    built = [(w.path.split("/", 1)[1] if w.path.startswith(model.name + "/") else w.path,
              tuple(w.shape), dims.logical_axes(w)) for w in model.weights
             if dims.logical_axes(w) is not None]
    listed = [(s.path, s.shape, s.axes) for s in weight_specs(config)]
    assert sorted(built) == sorted(listed)


def test_a_checkpoint_of_the_model_alone_restores_every_weight(tmp_path):
    model = GlamModel(SMALL)
    path = tf.train.Checkpoint(model=model).write(str(tmp_path / "ckpt"))
    other = GlamModel(SMALL)
    tf.train.Checkpoint(model=other).read(path).assert_existing_objects_matched()
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
