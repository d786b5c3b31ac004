"""Classifiers: feature vector (and, for some, the text) -> logit -> calibrated probability -> verdict."""

from .base import Classifier
from .calibration import DEFAULT_FPR, OperatingPoint
from .registry import PACKAGED_MODELS, load_model, packaged_model_dir, resolve_model

__all__ = ["DEFAULT_FPR", "PACKAGED_MODELS", "Classifier", "OperatingPoint", "load_model", "packaged_model_dir",
           "resolve_model"]
