"""The MusicVAE Keras model and its training objective.

Objective (Magenta's MusicVAE): per-window reconstruction NLL (summed over steps) plus
beta * max(KL - free_bits * ln 2, 0), the KL of the diagonal Gaussian posterior against
N(0, I) written out directly; beta anneals as (1 - beta_rate**step) * max_beta, the
learning rate decays as (lr - min_lr) * decay_rate**step + min_lr, and scheduled sampling
feeds the decoder its own samples with a probability that grows with the step.
"""
import math

import keras
import tensorflow as tf
from keras import ops

from musiczoo.models import augment
from musiczoo.models.music_vae.layers import BidirectionalEncoder, Decoder
from musiczoo.training import masked_metrics

NUM_DRUM_TYPES = 9


class MusicVAENetwork(keras.Model):
    """ids [B, T] -> (logits [B, T, C], mu [B, Z], sigma [B, Z])."""

    def __init__(self, config, num_classes, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.seq_len = int(num_classes), config.max_seq_len
        self.drum_roll = config.representation == "drums"
        self.encoder = BidirectionalEncoder(config.enc_rnn_size, config.z_size,
                                            config.cell_type, name="encoder")
        self.decoder = Decoder(config.dec_rnn_size, num_classes, config.max_seq_len,
                               config.conductor_rnn_size, config.steps_per_bar,
                               config.cell_type, name="decoder")
        # Build every weight now, so a bundle's weights can be assigned right away.
        self(ops.zeros((1, self.seq_len), "int32"))

    def encoder_inputs(self, ids):
        """One-hot melody classes; for drums Magenta's roll input: the 9 drum-type bits of
        the class plus a "no drums" flag."""
        ids = tf.cast(ids, tf.int32)
        if not self.drum_roll:
            return tf.one_hot(ids, self.num_classes)
        bits = tf.bitwise.bitwise_and(ids[..., None], 2 ** tf.range(NUM_DRUM_TYPES)) > 0
        return tf.cast(tf.concat([bits, (ids == 0)[..., None]], -1), tf.float32)

    def encode(self, ids, training=False):
        return self.encoder(self.encoder_inputs(ids), training=training)

    def call(self, ids, training=False, sampling_probability=0.0, sample_z=True, seed=None):
        mu, sigma = self.encode(ids, training=training)
        z = mu + sigma * tf.random.normal(tf.shape(mu), seed=seed) if sample_z else mu
        logits = self.decoder(z, tf.cast(ids, tf.int32), sampling_probability=sampling_probability,
                              training=training)
        return logits, mu, sigma


class DecayingLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """(learning_rate - min_learning_rate) * decay_rate**step + min_learning_rate."""

    def __init__(self, learning_rate, decay_rate, min_learning_rate):
        self.learning_rate, self.decay_rate = float(learning_rate), float(decay_rate)
        self.min_learning_rate = float(min_learning_rate)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        return ((self.learning_rate - self.min_learning_rate) * self.decay_rate ** step
                + self.min_learning_rate)

    def get_config(self):
        return {"learning_rate": self.learning_rate, "decay_rate": self.decay_rate,
                "min_learning_rate": self.min_learning_rate}


def beta(config, step):
    return (1.0 - config.beta_rate ** tf.cast(step, tf.float32)) * config.max_beta


def sampling_probability(config, step):
    """Probability of feeding the decoder its own sample (Magenta's schedules)."""
    step = tf.cast(step, tf.float32)
    rate = float(config.sampling_rate)
    if config.sampling_schedule == "inverse_sigmoid":
        return 1.0 - rate / (rate + tf.exp(step / rate))
    if config.sampling_schedule == "exponential":
        return 1.0 - rate ** step
    return tf.constant(rate, tf.float32)


def kl_divergence(mu, sigma):
    """KL(N(mu, sigma^2) || N(0, 1)) summed over latent dims: [B]."""
    return 0.5 * tf.reduce_sum(tf.square(mu) + tf.square(sigma) - 1.0
                               - 2.0 * tf.math.log(sigma + 1e-10), axis=-1)


def transpose_ids(ids, max_semitones, num_classes, first_pitch_id=2):
    """Shifts every pitch class of each window by its own random amount in
    [-max_semitones, max_semitones]; a window that would leave the range keeps its pitch."""
    moved, = augment.transpose([ids], [(first_pitch_id, num_classes - 1)], max_semitones)
    return moved


def make_metrics_fn(network, config):
    """The `metrics_fn` of training.train_model for a MusicVAE."""
    free_nats = config.free_bits * math.log(2.0)

    def metrics_fn(inputs, lengths, labels, training, step):
        ids = tf.cast(labels, tf.int32)
        if training and config.transpose_range:
            ids = transpose_ids(ids, config.transpose_range, network.num_classes)
        probability = sampling_probability(config, step) if training else tf.constant(0.0)
        logits, mu, sigma = network(ids, training=training, sampling_probability=probability)
        mask = tf.sequence_mask(lengths, tf.shape(ids)[1], dtype=tf.float32)
        nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids, logits=logits) * mask
        kl = kl_divergence(mu, sigma)
        current_beta = beta(config, step)
        loss = tf.reduce_mean(tf.reduce_sum(nll, 1) + current_beta * tf.maximum(kl - free_nats,
                                                                                 0.0))
        # Per step: the same masked cross-entropy and accuracies as every family's.
        per_step = masked_metrics(tf, logits, ids, lengths, no_event_id=0)
        metrics = {"loss": loss, "nll_per_step": per_step["loss"],
                   "accuracy": per_step["accuracy"],
                   "event_accuracy": per_step["event_accuracy"],
                   "kl_bits": tf.reduce_mean(kl) / math.log(2.0), "weight": per_step["weight"]}
        if training:
            metrics.update(beta=current_beta, sampling_probability=probability)
        return metrics

    return metrics_fn
