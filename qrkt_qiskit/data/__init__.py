"""Datasets: loaders that return tensors split as the thesis splits them."""

from .gan import GAN_DATASETS, load_gan_images
from .text import TEXT_DATASETS, TextSplits, encode, load_text, load_tokenizer, read_imdb, train_tokenizer
from .vision import IMAGE_DATASETS, ImageSplits, load_images

__all__ = ["IMAGE_DATASETS", "TEXT_DATASETS", "ImageSplits", "TextSplits", "encode", "load_images", "load_text",
           "load_tokenizer", "read_imdb", "train_tokenizer"]
__all__ += ["GAN_DATASETS", "load_gan_images"]
