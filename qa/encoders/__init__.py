"""Encoders turn texts into unit vectors; ``get_encoder`` picks one from the settings."""

from qa.encoders.base import BACKENDS, Encoder, Vectors, get_encoder, get_query_encoder

__all__ = ["BACKENDS", "Encoder", "Vectors", "get_encoder", "get_query_encoder"]
