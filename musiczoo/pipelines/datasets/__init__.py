"""Datasets: a config's DataSpec run over sequences into TFRecords (build), the tf.data
input functions that read them back (tfrecord), and why a run kept nothing (explain)."""
