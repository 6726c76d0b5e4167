"""Compression: smaller / faster variants of a trained model, each measured on the run's test rows.

``scifm compress`` (:mod:`scifm.recipes.compress`) asks :mod:`scifm.compression.variants` which
variants apply to a run's model family, has each maker write a model folder
(:class:`~scifm.compression.base.Variant`), measures every one (:mod:`scifm.compression.measure`)
and writes the chosen one as a normal run directory.
"""
