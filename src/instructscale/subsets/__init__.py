"""Nested, deterministic subsets of a training pool: the x axis of a scaling study."""

from instructscale.subsets.make import SubsetsConfig, make_subsets
from instructscale.subsets.manifest import SubsetEntry, SubsetsManifest, human_size, load_manifest
from instructscale.subsets.order import nested_order, stratified_order

__all__ = ["SubsetEntry", "SubsetsConfig", "SubsetsManifest", "human_size", "load_manifest", "make_subsets",
           "nested_order", "stratified_order"]
