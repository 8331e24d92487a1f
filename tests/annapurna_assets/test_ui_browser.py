"""A paper's story in the Dagster UI, read from the rendered pages in headless Chromium (not from GraphQL).

The demo runs on two bundled papers (Switch Transformers, accepted; Neural Collaborative Filtering, rejected), then
`annapurna ui` serves the UI and the blobs on loopback, and the browser follows Switch Transformers from its verdict
to its code, loss curve, checks and trace. Set ANNAPURNA_SCREENSHOTS to a folder to keep the screenshots (the ones in
docs/ui/ were made so).
"""

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from annapurna_assets.settings import DEMO_CORPUS
from tests.annapurna_assets.test_webserver import free_port, graphql, start_ui, stop_ui, wait_for

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[test]')")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver; .ci/run does)",
)

from selenium.common.exceptions import TimeoutException  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from tests.conftest import configure  # noqa: E402

ACCEPTED, REJECTED = "02_SwitchTransformers_JMLR2022", "03_NCF_WWW2017"
CHROMIUM_FLAGS = (  # as root, offline: no sandbox, no background connections to Google
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1200",
)


@pytest.fixture
def demo_home(annapurna_home, tmp_path, monkeypatch):
    """The demo, run as a user runs it, on two of the bundled papers; blobs served on a free loopback port."""
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for stem in (ACCEPTED, REJECTED):
        for suffix in (".pdf", ".json"):
            shutil.copy(DEMO_CORPUS / f"{stem}{suffix}", inbox / f"{stem}{suffix}")
    blob_url = f"http://127.0.0.1:{free_port()}"
    configure(blob_store={"browser_base_url": blob_url})
    annapurna = Path(sys.executable).with_name("annapurna")
    demo = subprocess.run(
        [str(annapurna), "demo", "--papers", str(inbox)], capture_output=True, text=True, timeout=600, env=os.environ
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    return annapurna_home


def headless_chromium(profile: Path):
    """Debian's chromium, headless and offline, driven through its chromedriver, with its profile in `profile`."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.binary_location = str(CHROMIUM)
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)


@pytest.fixture
def browser(tmp_path):
    driver = headless_chromium(tmp_path / "chromium-profile")
    yield driver
    driver.quit()


class Page:
    """The UI as a person uses it: open a page, wait for a text, click what is shown, keep a screenshot."""

    def __init__(self, driver, port: int, shots: Path):
        self.driver, self.base, self.shots = driver, f"http://127.0.0.1:{port}", shots
        self.dialog_dismissed = False

    def open(self, path: str, until: str) -> None:
        self.driver.get(self.base + path)
        self.wait_for_text(until)
        if not self.dialog_dismissed:  # Dagster's one-time "join the community" dialog, shown once it has loaded
            skip = "//button[normalize-space()='Skip']"
            try:
                WebDriverWait(self.driver, 15).until(lambda d: d.find_elements(By.XPATH, skip))
                self.driver.find_element(By.XPATH, skip).click()
            except TimeoutException:
                pass  # not shown (a later Dagster may drop it)
            self.dialog_dismissed = True

    def wait_for_text(self, text: str, timeout_s: float = 60) -> None:
        WebDriverWait(self.driver, timeout_s).until(lambda d: text in d.find_element(By.TAG_NAME, "body").text)

    def text(self) -> str:
        return self.driver.find_element(By.TAG_NAME, "body").text

    def click_text(self, text: str) -> None:
        self.driver.find_element(
            By.XPATH, f"//*[self::a or self::button or self::span][normalize-space()='{text}']"
        ).click()

    def close_dialog(self) -> None:
        self.driver.find_element(By.XPATH, "//button[normalize-space()='Close']").click()
        WebDriverWait(self.driver, 10).until(lambda d: not d.find_elements(By.CLASS_NAME, "bp5-overlay-backdrop"))

    def click_partition(self, key_start: str) -> None:
        """Clicks the partition whose (possibly shortened) key starts so, in the partition list."""
        matches = self.driver.find_elements(By.XPATH, f"//*[starts-with(normalize-space(), '{key_start}')]")
        [label for label in matches if label.is_displayed() and label.text.strip()][-1].click()  # the innermost

    def screenshot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(self.shots / f"{name}.png"))


def test_a_newcomer_follows_one_paper_from_verdict_to_trace(demo_home, browser, tmp_path):
    process, port = start_ui(demo_home)
    try:
        wait_for("the UI", lambda: graphql(port, "{ version }")["data"], process)
        page = Page(browser, port, Path(os.environ.get("ANNAPURNA_SCREENSHOTS") or tmp_path / "screenshots"))

        # Found by a title word: the partition filter of the verdict asset.
        page.open("/assets/verdict?view=partitions", until="Partitions Selected")
        search = browser.find_element(By.XPATH, "//input[@placeholder='Filter by name…']")
        search.send_keys("switch")
        WebDriverWait(browser, 30).until(lambda d: "neural-collaborative" not in page.text())
        keys = [k for k in page.text().split() if k.startswith("switch-transformer")]
        assert keys, page.text()
        page.click_partition("switch-transf")
        page.wait_for_text("closest research interest")
        assert "accept" in page.text() and "mixture-of-experts" in page.text()
        page.screenshot("1-verdict")
        paper_key = browser.current_url.split("partition=")[1].split("&")[0]

        # The sections it reads, one click on along its chain.
        page.click_text("selected_pages")
        page.wait_for_text("tokens_kept")
        page.click_text("[Show Markdown]")  # a long table opens in a dialog
        page.wait_for_text("P(useful)")
        assert "Switch Transformer" in page.text() and "read" in page.text()
        assert "dropped: references" in page.text()
        page.screenshot("2-selected-pages")
        page.close_dialog()

        # Its code, rendered.
        page.click_text("generated_code")
        page.wait_for_text("offline-scaffold")
        page.click_text("[Show Markdown]")
        page.wait_for_text("import torch")
        assert "def main" in page.text()
        page.screenshot("3-generated-code")
        page.close_dialog()

        # Its run and loss curve: an image the browser loaded.
        page.open(f"/assets/trn_run_result?view=partitions&partition={paper_key}", until="final_metrics")
        curve = browser.find_element(By.XPATH, "//img[contains(@alt, 'loss curve')]")
        WebDriverWait(browser, 30).until(lambda d: d.execute_script("return arguments[0].naturalWidth", curve) > 0)
        page.screenshot("4-run-and-loss-curve")

        # Its checks: passed, on the check's partitions view too.
        page.open("/assets/generated_code?view=checks", until="meets_contract")
        browser.find_elements(By.XPATH, "//*[normalize-space()='Partitions']")[-1].click()
        page.wait_for_text("Passed (1)")
        assert "Missing (0)" in page.text()
        assert "smoke_run_passed" not in page.text()  # the offline generator has no smoke run: not declared
        page.screenshot("5-checks")

        # Its trace: the link answers with the trace, and Perfetto is told where to load it from.
        page.open(f"/assets/trn_profile?view=partitions&partition={paper_key}", until="open_in_perfetto")
        links = [a.get_attribute("href") for a in browser.find_elements(By.TAG_NAME, "a")]
        trace = next(link for link in links if link and link.startswith("http://127.0.0.1") and link.endswith(".json"))
        assert any(link and link.startswith("https://ui.perfetto.dev/#!/?url=" + trace) for link in links)
        with urllib.request.urlopen(trace, timeout=30) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "*"
            assert "traceEvents" in json.loads(response.read())
        page.screenshot("6-profile")

        # The rejected paper is finished: not missing downstream, and its verdict says why.
        page.open("/assets/raw_pdf?view=partitions", until="Partitions Selected")
        time.sleep(2)
        assert "Missing (0)" in page.text() and "neural-collaborative" not in page.text()
        page.open("/assets/verdict?view=partitions", until="Partitions Selected")
        browser.find_element(By.XPATH, "//input[@placeholder='Filter by name…']").send_keys("collaborative")
        page.click_partition("neural-collab")  # long keys are shortened in the middle
        page.wait_for_text("closest research interest")
        assert "reject" in page.text() and "verdict (the lifecycle ends here)" in page.text()
        page.screenshot("7-rejected-verdict")

        # The flow, left to right.
        page.open("/assets/verdict?view=lineage&lineageScope=neighbors&lineageDepth=3", until="paper_metadata")
        page.screenshot("8-lineage")
    finally:
        stop_ui(process)
