"""nst: Gatys-style neural style transfer on a frozen VGG19.

    >>> import nst
    >>> result = nst.stylize_image("photo.jpg", "painting.jpg", steps=200, size=512)
    >>> for event in nst.stylize("photo.jpg", "painting.jpg"):
    ...     print(event.step, event.losses["total"])
"""

from .images import ImageError, load_image
from .device import resolve_device
from .pipeline import Progress, stylize, stylize_image
from .recipe import RecipeError, read_recipe, save_png
from .settings import DEFAULT, LIMITS, Settings, SettingsError
from .vgg import LAYER_NAMES, VGG19Features
from .weights import WeightsError, load_model, load_weights

__version__ = "0.2.0"

__all__ = [
    "DEFAULT",
    "LAYER_NAMES",
    "LIMITS",
    "ImageError",
    "Progress",
    "RecipeError",
    "Settings",
    "SettingsError",
    "VGG19Features",
    "WeightsError",
    "__version__",
    "load_image",
    "load_model",
    "load_weights",
    "read_recipe",
    "resolve_device",
    "save_png",
    "stylize",
    "stylize_image",
]
