"""Adafactor as GLaM trains with it, and GLaM's learning-rate schedule.

Adafactor (Shazeer & Stern, 2018) with the paper's settings: no first moment
(beta1 = 0); second moments factored over the last two dimensions of every
weight of rank >= 2 (an [E, M, H] expert weight keeps [E, M] and [E, H]
statistics, not [E, M, H]); second-moment decay 1 - t^-0.8, capped; updates
clipped to RMS <= 1. Keras' own Adafactor keeps a full-size slot per weight
and always scales steps by the weight's RMS, so it is not used.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="glam_tf")
class GlamSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, constant `peak` until `constant_steps`, then peak*sqrt(constant_steps/t).

    With the paper's peak 0.01 and 10K constant steps the decay is 1/sqrt(t).
    """

    def __init__(self, peak=0.01, constant_steps=10_000, warmup_steps=0):
        self.peak = peak
        self.constant_steps = constant_steps
        self.warmup_steps = warmup_steps

    def __call__(self, step):
        t = tf.cast(step, tf.float32) + 1.0  # step is the count of updates made so far
        warmup = tf.minimum(1.0, t / max(self.warmup_steps, 1))
        decay = tf.sqrt(self.constant_steps / tf.maximum(t, float(self.constant_steps)))
        return self.peak * warmup * decay

    def get_config(self):
        return {"peak": self.peak, "constant_steps": self.constant_steps,
                "warmup_steps": self.warmup_steps}


class _OneUpdateAtATime:
    """Runs the weights' updates one after another inside a tf.function.

    Each update makes a few weight-sized temporaries; run side by side (the
    graph orders nothing between weights) they multiplied the step's memory
    (benchmarks/sharded_memory.py). In eager mode updates run in order anyway.
    """

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        self._previous_update = []
        try:
            super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._previous_update = []

    def _in_turn(self):
        return tf.control_dependencies(getattr(self, "_previous_update", []))

    def _done(self, update_op):
        self._previous_update = [update_op]


@keras.saving.register_keras_serializable(package="glam_tf")
class Adafactor(_OneUpdateAtATime, keras.optimizers.Optimizer):
    """Factored second-moment optimizer without momentum.

    Update for a weight w with gradient g at step t (1-based):
      beta = min(1 - t^decay_exponent, max_decay)
      v    = beta * v + (1 - beta) * (g^2 + epsilon)   (factored when rank >= 2)
      u    = g / sqrt(v);  u /= max(1, RMS(u) / clip_threshold)
      w   -= learning_rate * u   (times max(epsilon_scale, RMS(w)) with
                                  multiply_by_parameter_scale)
    """

    def __init__(self, learning_rate=0.01, decay_exponent=-0.8, max_decay=0.99,
                 clip_threshold=1.0, epsilon=1e-30, multiply_by_parameter_scale=False,
                 epsilon_scale=1e-3, name="adafactor", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.decay_exponent = decay_exponent
        self.max_decay = max_decay
        self.clip_threshold = clip_threshold
        self.epsilon = epsilon
        self.multiply_by_parameter_scale = multiply_by_parameter_scale
        self.epsilon_scale = epsilon_scale

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._row, self._col, self._full = [], [], []
        for var in var_list:
            shape = tuple(var.shape)
            if len(shape) >= 2:
                self._row.append(self.add_variable(shape[:-1], "zeros", name=f"{var.name}_row"))
                self._col.append(self.add_variable(shape[:-2] + shape[-1:], "zeros",
                                                   name=f"{var.name}_col"))
                self._full.append(None)
            else:
                self._row.append(None)
                self._col.append(None)
                self._full.append(self.add_variable_from_reference(var, "second_moment"))

    def update_step(self, gradient, variable, learning_rate):
        with self._in_turn():
            self._done(self._update(gradient, variable, learning_rate))

    def _update(self, gradient, variable, learning_rate):
        # Written to keep at most two weight-sized temporaries alive at once.
        index = self._get_variable_index(variable)
        g = tf.cast(gradient, tf.float32)
        t = tf.cast(self.iterations + 1, tf.float32)
        beta = tf.minimum(1.0 - tf.pow(t, self.decay_exponent), self.max_decay)
        # New moments are used as computed, never re-read from their variables:
        # under DTensor a read is not ordered after the assign before it.
        if self._full[index] is None:
            row, col = self._row[index], self._col[index]
            g2 = tf.square(g)  # mean(g^2 + epsilon) = mean(g^2) + epsilon
            r = beta * tf.convert_to_tensor(row) + (1 - beta) * (
                tf.reduce_mean(g2, axis=-1) + self.epsilon)
            c = beta * tf.convert_to_tensor(col) + (1 - beta) * (
                tf.reduce_mean(g2, axis=-2) + self.epsilon)
            del g2
            row.assign(r)
            col.assign(c)
            # 1/sqrt(v) for v = outer(r, c) / mean(r), as two factors: the
            # product of two tiny moments would underflow to 0 (then 0 * inf).
            row_factor = tf.math.rsqrt(r / tf.reduce_mean(r, axis=-1, keepdims=True))
            update = g * row_factor[..., :, None] * tf.math.rsqrt(c)[..., None, :]
        else:
            full = self._full[index]
            v = beta * tf.convert_to_tensor(full) + (1 - beta) * (tf.square(g) + self.epsilon)
            full.assign(v)
            update = g * tf.math.rsqrt(v)
        scale = tf.cast(learning_rate, tf.float32) / tf.maximum(
            1.0, _rms(update) / self.clip_threshold)
        if self.multiply_by_parameter_scale:
            scale *= tf.maximum(self.epsilon_scale, _rms(tf.convert_to_tensor(variable)))
        return variable.assign_sub(tf.cast(update * scale, variable.dtype), read_value=False)

    def get_config(self):
        return {**super().get_config(), "decay_exponent": self.decay_exponent,
                "max_decay": self.max_decay, "clip_threshold": self.clip_threshold,
                "epsilon": self.epsilon,
                "multiply_by_parameter_scale": self.multiply_by_parameter_scale,
                "epsilon_scale": self.epsilon_scale}


def _rms(x):
    return tf.sqrt(tf.reduce_mean(tf.square(x)))


@keras.saving.register_keras_serializable(package="glam_tf")
class Adam(_OneUpdateAtATime, keras.optimizers.Optimizer):
    """Adam (Kingma & Ba) with bias correction, for comparison runs.

    Same maths as `keras.optimizers.Adam`, but the new moments are used as
    computed: Keras' Adam re-reads its slots right after assigning them, and
    under DTensor those reads are not ordered after the writes (the sharded
    step then left every weight unchanged).
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 name="adam", **kwargs):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = [self.add_variable_from_reference(v, "momentum") for v in var_list]
        self._velocities = [self.add_variable_from_reference(v, "velocity") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        with self._in_turn():
            self._done(self._update(gradient, variable, learning_rate))

    def _update(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        m_var, v_var = self._momentums[index], self._velocities[index]
        g = tf.cast(gradient, tf.float32)
        t = tf.cast(self.iterations + 1, tf.float32)
        m = self.beta_1 * tf.convert_to_tensor(m_var) + (1 - self.beta_1) * g
        v = self.beta_2 * tf.convert_to_tensor(v_var) + (1 - self.beta_2) * tf.square(g)
        m_var.assign(m)
        v_var.assign(v)
        alpha = (tf.cast(learning_rate, tf.float32) * tf.sqrt(1 - tf.pow(self.beta_2, t))
                 / (1 - tf.pow(self.beta_1, t)))
        return variable.assign_sub(tf.cast(alpha * m / (tf.sqrt(v) + self.epsilon),
                                           variable.dtype), read_value=False)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
