"""Evaluation of generative models: FID (and IS where its weights are present) with the network named."""

from .fid import FID, FeatureNetworkError, FIDResult, ImageFeatures, inception_features, inception_score

__all__ = ["FID", "FIDResult", "FeatureNetworkError", "ImageFeatures", "inception_features", "inception_score"]
