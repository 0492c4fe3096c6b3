"""Nested, deterministic subsets of a training pool: the x axis of a scaling study."""

from instructscale.subsets.make import SubsetsConfig, estimate_subsets, make_subsets
from instructscale.subsets.manifest import Selection, SubsetEntry, SubsetsManifest, human_size, load_manifest
from instructscale.subsets.order import nested_order, stratified_order
from instructscale.subsets.select import SelectConfig

__all__ = ["SelectConfig", "Selection", "SubsetEntry", "SubsetsConfig", "SubsetsManifest", "estimate_subsets",
           "human_size", "load_manifest", "make_subsets", "nested_order", "stratified_order"]
