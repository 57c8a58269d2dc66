"""report.html in a real browser: headless Chromium driven by selenium.

Checks that the page renders without console errors, that the numbers on the page
match the tables, that the untrusted campaign names show as text, and that the
sorting and model filter work. Under CI (``CI=true``) a missing browser fails the
test; elsewhere it is skipped (``tests/install-browser.sh`` installs one).
"""

from __future__ import annotations

import os
import shutil

import pytest

import reports

from .conftest import FORMULA, XSS

_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
          "--no-first-run", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
          "--window-size=1366,900"]


def _missing(reason: str):
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"browser test under CI: {reason}; run tests/install-browser.sh")
    pytest.skip(reason)


@pytest.fixture
def browser(tmp_path):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install '.[test]')")
    names = ("chromium", "chromium-browser", "google-chrome")
    binary = next((shutil.which(n) for n in names if shutil.which(n)), None)
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        _missing("no chromium/chromedriver on PATH")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in _FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()


def test_report_in_headless_chromium(browser, hand_result, hand_store, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    rep = reports.build(hand_result, hand_store, quarter="2026Q3", compare="2026Q2")
    out = rep.write(tmp_path / "rep")
    browser.get((out / "report.html").as_uri())
    assert browser.title == "touchline report 2026Q3 vs 2026Q2"

    errors = [e for e in browser.get_log("browser") if e["level"] in ("SEVERE",
                                                                      "ERROR")]
    assert errors == []
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert  # noqa: B018 - no injected script ran

    # headline KPI and table numbers as the tables hold them
    kpi = browser.find_element(By.CSS_SELECTOR, '[data-kpi="pipeline_created"] .value')
    assert kpi.text == "$2,000"
    section = browser.find_element(By.ID, "table-channel_influence")
    heads = [th.get_attribute("data-col") for th in
             section.find_elements(By.CSS_SELECTOR, "thead th")]
    assert heads[:3] == ["channel", "model", "touches"]
    visible = [tr for tr in section.find_elements(By.CSS_SELECTOR, "tbody tr")
               if tr.is_displayed()]
    ci = rep.channel_influence
    assert len(visible) == (ci.model == "linear").sum()  # filtered to linear
    for tr in visible:
        cells = [td.text.split("\n")[0] for td in tr.find_elements(By.TAG_NAME, "td")]
        rec = dict(zip(heads, cells, strict=True))
        src = ci[(ci.channel == rec["channel"]) & (ci.model == rec["model"])].iloc[0]
        assert rec["pipeline_credit"] == f"${src.pipeline_credit:,.0f}"
        assert rec["touches"] == f"{src.touches:,.0f}"
        assert rec["pipeline_share"] == f"{src.pipeline_share * 100:.1f}%"
    search = next(tr for tr in visible if tr.text.startswith("Search"))
    assert "$500" in search.text and "▲ 25.0%" in search.text  # 400 -> 500

    # the hostile campaign names show as text
    camp = browser.find_element(By.ID, "table-roas_campaign")
    Select(camp.find_element(By.CSS_SELECTOR, "select")).select_by_value("")
    texts = [td.text for td in camp.find_elements(By.CSS_SELECTOR, "tbody td")]
    assert XSS in texts and FORMULA in texts
    assert browser.execute_script("return document.scripts.length") == 1

    # clicking a header sorts by its numbers
    th = section.find_element(By.CSS_SELECTOR, 'th[data-col="pipeline_credit"]')
    th.click()
    th.click()  # descending
    first = next(tr for tr in section.find_elements(By.CSS_SELECTOR, "tbody tr")
                 if tr.is_displayed())
    assert first.text.startswith("Display")  # $600, the largest linear credit
    browser.save_screenshot(str(tmp_path / "report.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_intervals_in_headless_chromium(browser, hand_store, tmp_path):
    from selenium.webdriver.common.by import By

    from attribution import attribute

    result = attribute(hand_store, ["linear", "markov"], ["pipeline", "revenue"],
                       quarters=["2026Q3"], intervals=30, seed=1)
    rep = reports.build(result, hand_store, quarter="2026Q3")
    out = rep.write(tmp_path / "rep")
    browser.get((out / "report.html").as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    section = browser.find_element(By.ID, "table-channel_influence")
    heads = [th.get_attribute("data-col") for th in
             section.find_elements(By.CSS_SELECTOR, "thead th")]
    assert not [h for h in heads if h.endswith(("_lo", "_hi"))]  # folded into cells
    ci = rep.channel_influence
    col = heads.index("pipeline_credit")
    rows = [tr for tr in section.find_elements(By.CSS_SELECTOR, "tbody tr")
            if tr.is_displayed()]
    assert len(rows) == (ci.model == "markov").sum()
    for tr in rows:
        cells = tr.find_elements(By.TAG_NAME, "td")
        src = ci[(ci.channel == cells[0].text) & (ci.model == "markov")].iloc[0]
        lines = cells[col].text.split("\n")
        assert lines[0] == f"${src.pipeline_credit:,.0f}"
        if src.pipeline_credit_lo != src.pipeline_credit_hi:
            assert lines[1] == (f"95% CI ${src.pipeline_credit_lo:,.0f}–"
                                f"${src.pipeline_credit_hi:,.0f}")
    # sorting still goes by the value, not the range under it
    th = section.find_element(By.CSS_SELECTOR, 'th[data-col="pipeline_credit"]')
    th.click()
    th.click()  # descending
    first = next(tr for tr in section.find_elements(By.CSS_SELECTOR, "tbody tr")
                 if tr.is_displayed())
    top = ci[ci.model == "markov"].sort_values("pipeline_credit").iloc[-1]
    assert first.text.startswith(top.channel)
    browser.save_screenshot(str(tmp_path / "report.png"))
