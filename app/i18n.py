"""Interface language helpers (Flask-Babel): Chinese is the source language, English is selectable."""
from __future__ import annotations

from flask_babel import force_locale

LOCALES = ("zh", "en")  # the interface languages; the first is the default


def chinese(text) -> str:
    """The Chinese text of a translatable (possibly lazy) string, for what is stored or official."""
    with force_locale("zh"):
        return str(text)


def install_request_cached_gettext(app) -> None:
    """Let templates look the catalogue up once per request, not once per string (hundreds on a task list).

    Jinja's own newstyle gettext still wraps the callables, so translated text stays escaped as before.
    """
    from flask import g
    from flask_babel import get_translations

    def translations():
        if "babel_translations" not in g:
            g.babel_translations = get_translations()
        return g.babel_translations

    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
