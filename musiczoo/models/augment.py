"""Train-time augmentation inside the graph, shared by the families that transpose."""
import tensorflow as tf


def transpose(tensors, pitch_ranges, max_shift, lengths=None, seed=None):
    """Shifts the pitch ids of every example by its own random amount in
    [-max_shift, max_shift]. `tensors` are int [B, T] id tensors that move together (a
    language model's inputs and labels, one token apart); an id is a pitch when it lies in
    one of `pitch_ranges` ((low, high) inclusive) and before the example's length
    (`lengths`, default: all of it). An example any of whose pitches would leave its range
    stays where it is. Returns the shifted tensors, as a tuple."""
    tensors = [tf.cast(t, tf.int32) for t in tensors]
    batch, steps = tf.shape(tensors[0])[0], tf.shape(tensors[0])[1]
    shift = tf.random.uniform([batch, 1], -max_shift, max_shift + 1, tf.int32, seed=seed)
    valid = (tf.ones([batch, steps], tf.bool) if lengths is None
             else tf.sequence_mask(lengths, steps))
    fits = tf.ones([batch], tf.bool)
    pitched_masks = []
    for tokens in tensors:
        pitched = tf.zeros_like(tokens, tf.bool)
        for low, high in pitch_ranges:
            inside = valid & (tokens >= low) & (tokens <= high)
            moved = tokens + shift
            fits &= tf.reduce_all(~inside | ((moved >= low) & (moved <= high)), axis=1)
            pitched |= inside
        pitched_masks.append(pitched)
    shift = tf.where(fits[:, None], shift, 0)
    return tuple(tf.where(pitched, tokens + shift, tokens)
                 for tokens, pitched in zip(tensors, pitched_masks))
