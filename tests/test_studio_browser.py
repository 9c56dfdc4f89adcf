"""The studio page in a real headless browser (Debian's chromium + chromedriver, driven by
Selenium): type a prompt, press Generate, get variation cards, play one, download its
MIDI and parse it. CI installs the browser (.ci/run); elsewhere the test skips.

MUSICZOO_SCREENSHOT=path also saves a screenshot of the page there (README's picture)."""
import os
import shutil
import socket
import threading
import time

import pytest

pytest.importorskip("fastapi")
selenium = pytest.importorskip("selenium")

from musiczoo.pipelines.readers.midi import midi_bytes_to_sequence  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER) and not os.environ.get("MUSICZOO_REQUIRE_BROWSER"),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
           "chromium-driver)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    import uvicorn

    from musiczoo.serve.app import create_app
    from musiczoo.serve.settings import Settings
    port = free_port()
    config = uvicorn.Config(create_app(Settings(port=port, preload=("lookback_rnn",))),
                            host="127.0.0.1", port=port, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.time() + 120
    while not instance.started and time.time() < deadline:
        time.sleep(0.1)
    assert instance.started, "the studio did not start"
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(timeout=30)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1280,1100",
                     "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def test_prompt_generate_listen_and_download(server, browser):
    import httpx
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as seen
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(server + "/")
    wait = WebDriverWait(browser, 300)
    wait.until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "#bundle option")) > 5)
    prompt = browser.find_element(By.ID, "prompt")
    prompt.clear()
    prompt.send_keys("calm folk melody in D minor, 80 bpm, 4 bars, 2 variations")
    browser.find_element(By.ID, "compose").click()
    wait.until(lambda b: "composing" in b.find_element(By.ID, "status").text
               or b.find_elements(By.CSS_SELECTOR, ".card"))       # progress is shown
    cards = wait.until(lambda b: b.find_elements(By.CSS_SELECTOR, "#results .card"))
    assert len(cards) == 2
    assert "understood: D minor" in browser.find_element(By.ID, "summary").text
    # Its piano roll is drawn and its audio loads and plays.
    image = cards[0].find_element(By.TAG_NAME, "img")
    wait.until(lambda b: b.execute_script("return arguments[0].naturalWidth", image) > 0)
    audio = cards[0].find_element(By.TAG_NAME, "audio")
    wait.until(lambda b: b.execute_script("return arguments[0].readyState", audio) >= 1)
    duration = browser.execute_script("return arguments[0].duration", audio)
    assert 4 * 4 * 60 / 80 <= duration <= 4 * 4 * 60 / 80 + 3   # 4 bars + the release tail
    browser.execute_script("arguments[0].muted = true; arguments[0].play()", audio)
    wait.until(lambda b: b.execute_script("return arguments[0].currentTime", audio) > 0)
    # Download its MIDI: the link the page offers, fetched as a browser would.
    link = cards[0].find_element(By.CSS_SELECTOR, "a.download").get_attribute("href")
    sequence = midi_bytes_to_sequence(httpx.get(link, timeout=30).content)
    assert sequence.notes and {n.pitch % 12 for n in sequence.notes} <= {2, 4, 5, 7, 9, 10, 0}
    # Keep it; "more like this" gives new cards.
    cards[0].find_element(By.CSS_SELECTOR, "button.keep").click()
    assert not browser.find_element(By.ID, "kept-area").get_attribute("hidden")
    target = os.environ.get("MUSICZOO_SCREENSHOT")
    if target:
        browser.save_screenshot(target)
    cards[0].find_element(By.CSS_SELECTOR, "button.more").click()
    wait.until(seen.text_to_be_present_in_element((By.ID, "status"), "more like it"))
    wait.until(lambda b: "More like it" in b.find_element(By.ID, "results").text)


def test_a_bad_request_shows_its_reason(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    browser.get(server + "/")
    prompt = browser.find_element(By.ID, "prompt")
    prompt.clear()
    prompt.send_keys("a melody in C major and D minor")
    browser.find_element(By.ID, "compose").click()
    status = WebDriverWait(browser, 60).until(
        lambda b: b.find_element(By.CSS_SELECTOR, "#status.error"))
    assert "two keys" in status.text
