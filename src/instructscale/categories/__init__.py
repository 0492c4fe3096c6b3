"""The study's 12-category taxonomy (loaded from data/categories.yaml) and label normalization."""

from instructscale.categories.taxonomy import (
    CATEGORY_IDS,
    Category,
    LabelNormalizer,
    categories,
    get_category,
    normalize_label,
)

__all__ = ["CATEGORY_IDS", "Category", "LabelNormalizer", "categories", "get_category", "normalize_label"]
