"""Datasets: loaders that return tensors split as the thesis splits them."""

from .gan import GAN_DATASETS, load_gan_images
from .vision import IMAGE_DATASETS, ImageSplits, load_images

__all__ = ["IMAGE_DATASETS", "ImageSplits", "load_images"]
__all__ += ["GAN_DATASETS", "load_gan_images"]
