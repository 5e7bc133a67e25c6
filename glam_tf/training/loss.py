"""GLaM's training loss on a packed batch."""

import tensorflow as tf


def lm_loss(model, batch, training=True):
    """Next-token loss of `model` on a packed batch, with GLaM's auxiliary terms.

    batch: {"token_ids", "segment_ids"} int32 [B, L + 1]; the model reads the
    first L tokens and predicts the last L. A target counts only when it
    belongs to the same document as its input token.
    Returns (total loss, {part name: scalar}, routing statistics).
    total = cross-entropy + aux_loss_weight * load balance
            + router_z_loss_weight * router z-loss
            + logit_z_loss_weight * mean(logsumexp(logits)^2)
    """
    config = model.config
    ids, segments = batch["token_ids"], batch["segment_ids"]
    inputs, targets = ids[:, :-1], ids[:, 1:]
    weights = tf.cast((segments[:, 1:] == segments[:, :-1]) & (segments[:, 1:] > 0),
                      tf.float32)
    logits, aux = model(inputs, segment_ids=segments[:, :-1], training=training,
                        return_aux=True)
    count = tf.maximum(tf.reduce_sum(weights), 1.0)
    cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(targets, logits)
    cross_entropy = tf.reduce_sum(cross_entropy * weights) / count
    logit_z = tf.reduce_sum(tf.square(tf.reduce_logsumexp(logits, -1)) * weights) / count
    total = (cross_entropy + config.aux_loss_weight * aux["moe_aux_loss"]
             + config.router_z_loss_weight * aux["router_z_loss"]
             + config.logit_z_loss_weight * logit_z)
    parts = {"loss": total, "cross_entropy": cross_entropy,
             "moe_aux_loss": aux["moe_aux_loss"], "router_z_loss": aux["router_z_loss"],
             "logit_z_loss": logit_z, "target_tokens": tf.reduce_sum(weights)}
    return total, parts, aux["routing"]
