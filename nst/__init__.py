"""nst: Gatys-style neural style transfer on a frozen VGG19.

    >>> import nst
    >>> result = nst.stylize_image("photo.jpg", "painting.jpg", steps=200, size=512)
    >>> for event in nst.stylize("photo.jpg", "painting.jpg"):
    ...     print(event.step, event.losses["total"], event.eta)
    >>> for event in nst.stylize_video("clip.mp4", "painting.jpg", "out.mp4", size=256, duration=3):
    ...     print(f"frame {event.frame} of {event.frames}")

Every error nst raises on purpose is an :class:`nst.Error`.
"""

from ._version import __version__
from .errors import (
    DivergedError,
    Error,
    ImageError,
    OutOfMemoryError,
    RecipeError,
    SettingsError,
    WeightsError,
    is_out_of_memory,
)
from .costs import cache_path, current_cost, is_calibrated, is_measured, precision_name, remember_cost
from .faces import Face, FaceDetectionUnavailable, detect_faces
from .faces import describe as describe_faces
from .images import MAX_INPUT_PIXELS, load_image, resize_to_pixels
from .device import max_size, resolve_device, size_cap_message
from .pipeline import PreparedRun, Progress, calibrate, estimate, prepare, stylize, stylize_image
from .recipe import read_recipe, save_png
from .costmodel import CostModel
from .schedule import estimate_seconds, format_seconds
from .settings import DEFAULT, LIMITS, STRENGTHS, FieldInfo, Settings, field_info, field_names, strength
from .upscale import prepare_upscale, upscale, upscale_image
from .vgg import LAYER_NAMES, VGG19Features
from .video import PreparedVideo, VideoCarry, VideoProgress, VideoWriter, is_video, prepare_video, stylize_video
from .videoio import MAX_CLIP_SECONDS, VideoError
from .weights import load_model, load_weights

__all__ = [
    "cache_path",
    "current_cost",
    "is_calibrated",
    "is_measured",
    "precision_name",
    "remember_cost",
    "Face",
    "FaceDetectionUnavailable",
    "detect_faces",
    "describe_faces",
    "MAX_INPUT_PIXELS",
    "resize_to_pixels",
    "CostModel",
    "estimate_seconds",
    "format_seconds",
    "STRENGTHS",
    "strength",
    "DEFAULT",
    "LAYER_NAMES",
    "LIMITS",
    "DivergedError",
    "Error",
    "FieldInfo",
    "ImageError",
    "OutOfMemoryError",
    "PreparedRun",
    "Progress",
    "RecipeError",
    "Settings",
    "SettingsError",
    "VGG19Features",
    "WeightsError",
    "__version__",
    "calibrate",
    "estimate",
    "field_info",
    "field_names",
    "is_out_of_memory",
    "load_image",
    "load_model",
    "load_weights",
    "max_size",
    "size_cap_message",
    "prepare",
    "prepare_upscale",
    "read_recipe",
    "resolve_device",
    "save_png",
    "stylize",
    "stylize_image",
    "upscale",
    "upscale_image",
    "MAX_CLIP_SECONDS",
    "PreparedVideo",
    "VideoError",
    "VideoCarry",
    "VideoProgress",
    "VideoWriter",
    "is_video",
    "prepare_video",
    "stylize_video",
]
