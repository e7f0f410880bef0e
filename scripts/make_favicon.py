"""Draw the site icon (app/static/favicon.ico): a seal-red disc with a white tick; run once, the file is committed."""
from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parent.parent / "app" / "static" / "favicon.ico"


def draw(size: int = 64) -> Image.Image:
    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.ellipse((1, 1, size - 2, size - 2), fill=(178, 34, 34, 255))
    s = size / 64
    pen.line([(17 * s, 33 * s), (28 * s, 44 * s), (47 * s, 22 * s)], fill=(255, 255, 255, 255), width=round(7 * s),
             joint="curve")
    return image


if __name__ == "__main__":
    draw().save(OUT, format="ICO", sizes=[(16, 16), (32, 32), (48, 48)])
    print(OUT, OUT.stat().st_size, "bytes")
