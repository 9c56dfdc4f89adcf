"""The events-RNN core shared by Melody RNN and Drums RNN (model, family, primers, TF inputs)."""
