"""The labelling screen as an annotator sees it, in headless Chromium (logged-in session).

Set ANNOTATE_SCREENSHOT_DIR to keep the screenshot (the README's picture is made that way:
ANNOTATE_SCREENSHOT_DIR=exports/screenshots make test).
"""

import io
import os
import uuid
from pathlib import Path

from label_studio_sdk import LabelStudio
from PIL import Image, ImageStat

from annotate.labelstudio import connect_to
from annotate.projects import create_project
from annotate.store import open_store
from tests.browser import chromium

ROOT = Path(__file__).resolve().parent.parent
POST = (
    "【紧急扩散】内部人士透露：某城商行资金链断裂😱，明天起暂停所有取款！"
    "@财经老王 说已经有人排队了🏃‍♂️🏃‍♀️ 赶紧去取钱，晚了就来不及了！！ #某银行挤兑# http://t.cn/A6xYz12"
)
SCRIPT = "看好了 <script>alert('xss')</script> <img src=x onerror=alert(2)> 这只是文字"


def test_labelling_screen_shows_a_chinese_post_and_markup_as_text(label_studio, tmp_path):
    store = open_store(f"sqlite:///{tmp_path}/annotate.db")
    connection = connect_to(label_studio.url, label_studio.token)
    info = create_project(store, connection, f"screen {uuid.uuid4().hex[:6]}")
    store.dispose()
    client = LabelStudio(base_url=label_studio.url, api_key=label_studio.token)
    project_id = info.ls_project_id
    meta = {"platform": "weibo", "created_at": "2024-10-08 09:12", "account": "财经内参速递"}
    post = client.tasks.create(project=project_id, data={"text": POST, **meta})
    markup = client.tasks.create(project=project_id, data={"text": SCRIPT, **meta})

    folder = Path(os.environ.get("ANNOTATE_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1050})
        dialogs = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(f"{label_studio.url}/user/login/")
        page.fill("input[name=email]", label_studio.username)
        page.fill("input[name=password]", label_studio.password)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/user/login" not in url)

        page.goto(f"{label_studio.url}/projects/{project_id}/data?task={post.id}")
        page.get_by_text("编造、传播金融谣言").first.wait_for(timeout=60_000)
        page.get_by_text("资金链断裂").first.wait_for()
        picture = page.screenshot(path=str(folder / "labelling-interface.png"))
        shown = page.inner_text("body")
        for expected in ("Fabricated financial rumour", "weibo", "财经内参速递", "误导性陈述"):
            assert expected in shown

        page.goto(f"{label_studio.url}/projects/{project_id}/data?task={markup.id}")
        page.get_by_text("这只是文字").first.wait_for(timeout=60_000)
        shown = page.inner_text("body")
        assert "<script>alert('xss')</script>" in shown
        assert "<img src=x onerror=alert(2)>" in shown
        page.wait_for_timeout(500)
        assert dialogs == [], "markup in a post ran as code"

    image = Image.open(io.BytesIO(picture)).convert("L")
    assert image.size == (1400, 1050)
    assert ImageStat.Stat(image).stddev[0] > 20, "the screenshot is blank"
