#!/usr/bin/env bash
# Prepare this machine: Debian packages for PDF letters, the virtualenv and the Python packages.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# CJK fonts for letters, WeasyPrint's Pango/HarfBuzz libraries, pdftotext/pdftoppm for checking PDFs, DejaVu (a
# stand-in "licensed" font in the letter tests) and Chromium for the browser tests.
DEBIAN_PACKAGES=(fonts-noto-cjk libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils fonts-dejavu-core chromium)

missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
    if ! dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed'; then
        missing+=("$pkg")
    fi
done
if ((${#missing[@]})); then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    echo "setup: installing Debian packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt

# Build the cached GB2312 subsets of the letter fonts once (≈15 s), not during the first letter.
.venv/bin/python -c "from app.letters.render import ensure_font_subsets; ensure_font_subsets()"

# The assets scripts/vendor_assets.sh copies from node_modules/ for the browser.
bash scripts/vendor_assets.sh

# The English UI catalogue: translations/*.po are source, the compiled .mo files are built here.
.venv/bin/pybabel -q compile -d translations
