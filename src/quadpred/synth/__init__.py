"""The built-in bilingual world: synthetic speech and emotion-labelled music in the real
corpora's layouts, for the demo, the tests and the benchmarks. Not a substitute for them."""

from .world import SCALES, Scale, build_world

__all__ = ["SCALES", "Scale", "build_world"]
