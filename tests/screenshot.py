"""The README's screenshots of the web page: `make screenshot` (python -m tests.screenshot).

Builds a seed index in a temporary folder, serves it, asks a seed question in headless
Chromium, opens the first answer in its article, and saves docs/web-page.png (desktop)
and docs/web-page-phone.png (360 pixels wide).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import urlencode

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa.api import create_app
from qa.config import DEFAULT_MODEL, Settings
from qa.corpus.load import load
from qa.encoders import get_encoder
from qa.indexing import build
from qa.store.local import LocalStore
from tests.browser import launched
from tests.serving import running

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "How many Russian troops are in Belarus?"
SHOTS = {"web-page.png": (1280, 820), "web-page-phone.png": (360, 760)}


def main() -> None:
    encoder = get_encoder(Settings(model=DEFAULT_MODEL))
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(index_dir=Path(folder) / "index", telegram_db=Path(folder) / "v.db")
        store = LocalStore(settings.index_dir)
        build(store, load([ROOT / "seeds"]).articles, settings, lambda: encoder)
        app = create_app(settings, encoder=lambda: encoder)
        with running(app) as url, launched() as browser:
            for name, (width, height) in SHOTS.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(f"{url}/?" + urlencode({"q": QUESTION, "k": 3}))
                first = page.locator("article.answer").first
                first.wait_for()
                page.locator("#status").filter(has_text="passages").wait_for()
                if width > 800:
                    first.get_by_role("button", name="Show in article").click()
                    page.locator("#panel mark").wait_for()
                page.screenshot(path=str(ROOT / "docs" / name))
                page.close()
                print(f"docs/{name}")


if __name__ == "__main__":
    main()
