"""Re-run every notebook top to bottom and save its outputs in place, so what GitHub shows is what
the current code does.

    python notebooks/refresh.py [NAME ...]
"""

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).parent


def refresh(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    # the widgets' state stays (as JupyterLab saves it): a reopened notebook draws each LiveTranscriber
    # from it, with no kernel; refresh again when the widget's JS changes
    nbformat.write(book, path)
    print(f"refreshed {path.name}")


if __name__ == "__main__":
    names = sys.argv[1:] or sorted(p.name for p in HERE.glob("*.ipynb"))
    for name in names:
        refresh(HERE / name)
