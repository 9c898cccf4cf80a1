"""Basenji2 (cross2020) in Keras 3 / TensorFlow: params config, model builder, legacy weights."""
