"""Figures that carry their own caption: saved as PNG with the caption in a text chunk, so a report shows what a
figure means rather than its file name."""

from pathlib import Path

from toxmix.core.files import atomic_path

CAPTION_KEY = "Description"  # a standard PNG text keyword
# The one script of a report page: after load it records how many of its figures decoded (a browser test reads
# it from the DOM). `toxmix serve` lets exactly this script run in the reports it serves, by its hash.
FIGURE_CHECK_JS = ("window.addEventListener('load',function(){var i=Array.from(document.images);"
                   "document.body.dataset.figures=i.filter(function(x){return x.complete&&x.naturalWidth>0}).length"
                   "+'/'+i.length;});")


def save_figure(fig, path: str | Path, caption: str, dpi: int = 110) -> Path:
    """Write a matplotlib figure as a PNG whose metadata holds `caption`, atomically; close the figure."""
    import matplotlib.pyplot as plt

    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", metadata={CAPTION_KEY: caption})
    plt.close(fig)
    return path


def is_png(path: str | Path) -> bool:
    """Whether a file is a PNG image that decodes (its name proves nothing)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        return False
    try:
        with path.open("rb") as f:
            if f.read(8) != b"\x89PNG\r\n\x1a\n":
                return False
        with Image.open(path) as image:
            image.load()
            return image.format == "PNG"
    except (OSError, ValueError, SyntaxError):
        return False


def figure_caption(path: str | Path) -> str | None:
    """The caption a PNG carries, or None (a figure toxmix did not draw, or not a PNG)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return (getattr(image, "text", None) or {}).get(CAPTION_KEY) or None
    except OSError:
        return None
