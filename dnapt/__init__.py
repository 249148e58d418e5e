"""Helpers every stage shares (the layer below data_prep, trainer, eval and testbed).

Stdlib-only, so importing them costs nothing at start-up.
"""
