"""Upload contents: the smallest files of each allowed type, and a request body that counts what is read of it."""
from __future__ import annotations

import io
import zipfile

PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def ofd_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("OFD.xml", "<ofd:OFD/>")
    return buffer.getvalue()


class BodyTrap(io.RawIOBase):
    """A request body of a given length that is never built: it counts what the app reads from it."""

    def __init__(self, size: int):
        self.size, self.pos, self.read_bytes = size, 0, 0

    def readable(self):
        return True

    def seekable(self):
        return True  # the test client measures the body by seeking to its end

    def seek(self, offset, whence=0):
        self.pos = {0: offset, 1: self.pos + offset, 2: self.size + offset}[whence]
        return self.pos

    def tell(self):
        return self.pos

    def readinto(self, buffer):
        n = max(0, min(len(buffer), 64 * 1024, self.size - self.pos))
        buffer[:n] = b"\0" * n
        self.pos += n
        self.read_bytes += n
        return n


def pdf_text(pdf: bytes) -> str:
    """The text of a PDF as poppler reads it (pdftotext), lines joined: a letter's wording wraps anywhere."""
    import subprocess

    out = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return "".join(out.split())
