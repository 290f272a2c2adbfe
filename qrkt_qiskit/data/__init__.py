"""Datasets: loaders that return tensors split as the thesis splits them."""

from .vision import IMAGE_DATASETS, ImageSplits, load_images

__all__ = ["IMAGE_DATASETS", "ImageSplits", "load_images"]
