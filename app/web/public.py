"""Public pages (no login): home and letter verification."""
from __future__ import annotations

import hashlib

from flask import Blueprint, render_template, request

from app.services import letters

bp = Blueprint("public", __name__)


@bp.route("/public")
def index():
    return render_template("public/index.html")


@bp.route("/v/<code>", methods=["GET", "POST"])
def verify(code: str):
    found = letters.verify_letter(code[:32])
    if found is None:
        return render_template("public/verify.html", letter=None), 404
    letter, intact = found
    upload_match = None
    uploaded = request.files.get("file") if request.method == "POST" else None
    if uploaded:
        upload_match = hashlib.sha256(uploaded.read()).hexdigest() == letter.sha256
    return render_template("public/verify.html", letter=letter, intact=intact, upload_match=upload_match)
