"""A case page fetches no file on load: letters are links, previews are put in only when 预览 is opened."""
import re

from tests.support.flows import do_task, file_objection, open_order

# An element that would fetch a document while the page loads.
EMBEDS = re.compile(r"<(?:iframe|embed|object)\b|<img\b[^>]*\bsrc=\"[^\"]*/(?:preview|pdf)\b|\bsrc=\"[^\"]*\.pdf\"")


def test_case_pages_embed_no_document_on_load(web, api, seeded):
    objection = file_objection(api)
    do_task(api, "intake1", objection["id"], "intake_review", {"intake_choice": "accept"})
    order = open_order(api)
    for username in ("intake1", "applicant1"):
        for case in (objection, order):
            page = web(username).get(f"/cases/{case['id']}").get_data(as_text=True)
            assert 'href="/cases/letters/' in page  # its letters are on the page, as links
            assert not EMBEDS.search(page), (username, case["number"], EMBEDS.search(page).group(0))
            # Each PDF preview is named only by its closed 预览 (data-preview-src) and its fallback link.
            previews = re.findall(r'(\w[\w-]*)="(/cases/attachments/[^"]+/preview)"', page)
            assert {attr for attr, _url in previews} <= {"data-preview-src", "href"}
            assert '<details class="attachment-preview" open' not in page
