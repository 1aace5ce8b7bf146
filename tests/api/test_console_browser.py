"""The review console in headless Chromium (Debian's chromium + chromedriver, driven by selenium).

One browser and one live server (uvicorn in a thread, SQLite audit) for the module. A
reviewer signs in, filters, claims, meets another reviewer's claim, resolves with the
buttons and with the keyboard, sees the items leave the queue, and the labels are counted
by training's label step as manual reviews. Nothing downloads a browser: the driver and the
binary are the Debian package's, and Selenium Manager is kept offline. Without them the
tests are skipped with the reason, except under CI=true, where they fail.

`TRIAGE_CONSOLE_SCREENSHOTS=DIR` saves the queue and item screenshots (1280×800) there
(`docs/` holds the ones the README shows).
"""

from __future__ import annotations

import csv
import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from api.app import create_app
from tests.api.conftest import FakeOnline, make_services
from tests.api.reviews_factory import put_decision
from training.split import fraud_events
from training.train import train_all
from triage.audit import export
from triage.contract import load_dataset
from triage.keys import create_key
from triage.settings import Settings
from triage.stores import open_store

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--window-size=1280,800")


def _require_browser() -> None:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        message = f"{', '.join(missing)} not installed (apt-get install -y chromium chromium-driver)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true requires it", pytrace=False)
        pytest.skip(message)


class _Online(FakeOnline):
    def features(self, kind, event):
        return {"cust_prior_orders": 12.0, "cust_prior_chargebacks": 1.0, "velocity": 3.0}


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[dict]:
    import uvicorn

    home = tmp_path_factory.mktemp("console")
    settings = Settings(home=home / "home", database_url=f"sqlite:///{home / 'triage.db'}")
    store = open_store(settings.audit_url)
    keys = {name: create_key(settings, name, "review", store=store) for name in ("ana", "ben")}
    keys["reader"] = create_key(settings, "reader", "read", store=store)
    items = {
        "big": put_decision(store, priority=8.0, age_h=3.5, order_total=950.0, channel="web",
                            reasons=[{"source": "rule", "code": "fraud.country_mismatch",
                                      "text": "card issued in another country than the IP address"},
                                     {"source": "model", "code": "velocity",
                                      "text": "6 orders from this device in the last hour"}]),
        "app": put_decision(store, priority=3.0, age_h=1, channel="app", order_total=310.0),
        "verify": put_decision(store, actions=("verify_customer",), priority=2.0, age_h=0.5, order_total=120.0),
    }
    items["ret"] = put_decision(store, kind="return", actions=("manual_review", "dc_restock"), priority=1.0, age_h=20,
                                order_id=items["app"].event_id,
                            reasons=[{"source": "model", "code": "return.abuse_risk",
                                      "text": "customer returned 9 of their last 10 orders"}])
    # mature history: released orders from 70 days ago (outside the queue's look-back), so the
    # export is a dataset training can label
    for _ in range(60):
        put_decision(store, actions=("release",), age_h=70 * 24)
    app = create_app(settings, services=make_services(online=_Online()), store=store)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the console's server did not start"
    try:
        yield {"url": f"http://127.0.0.1:{port}", "keys": keys, "items": items, "store": store,
               "settings": settings, "home": home}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    _require_browser()
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager never fetches anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="triage-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(options=opts, service=Service(executable_path=CHROMEDRIVER))
    driver.set_window_size(1280, 800)
    # the viewport (what a person sees, and the screenshot) at 1280×800: add the window's frame
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(1280 + (1280 - inner[0]), 800 + (800 - inner[1]))
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def _wait(driver, cond, timeout: float = 10.0):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(cond)


def _by_id(driver, id_: str):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, id_)


def _rows(driver) -> list[str]:
    """The queue's rows, read in one script call (the table is re-rendered as it reloads)."""
    return driver.execute_script("return [...document.querySelectorAll('#rows tr')].map(r => r.dataset.id)")


def _text(driver, id_: str) -> str:
    return driver.execute_script("const e = document.getElementById(arguments[0]); return e ? e.innerText : ''", id_)


def _sign_in(driver, url: str, key: str) -> None:
    driver.get(f"{url}/console")
    driver.execute_script("sessionStorage.clear()")
    driver.get(f"{url}/console")
    field = _wait(driver, lambda d: _by_id(d, "key"))
    field.clear()
    field.send_keys(key)
    _by_id(driver, "signin-btn").click()


def _screenshot(driver, name: str) -> None:
    target = os.environ.get("TRIAGE_CONSOLE_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        driver.execute_script("notice('')")  # the toast would hide the tabs
        driver.save_screenshot(str(Path(target) / name))


def test_sign_in_refuses_unknown_and_wrong_scope_keys_in_plain_words(browser, live):
    _sign_in(browser, live["url"], "trg_not-a-key")
    _wait(browser, lambda d: "unknown, revoked or expired" in _text(d, "error"))
    assert _by_id(browser, "signin").is_displayed()
    _sign_in(browser, live["url"], live["keys"]["reader"])
    _wait(browser, lambda d: "may not use the review queue" in _text(d, "error"))
    assert "lacks scope 'review'" in _text(browser, "error")


def test_reviewer_filters_claims_resolves_and_the_labels_reach_training(browser, live):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d, items = browser, live["items"]
    _sign_in(d, live["url"], live["keys"]["ana"])
    order = [items[k].decision_id for k in ("big", "app", "verify", "ret")]
    _wait(d, lambda d: _rows(d) == order)  # by priority
    assert "signed in as ana" in _text(d, "who")
    _wait(d, lambda d: "Order " + items["big"].event_id in _text(d, "item"))  # the first item opens
    assert "card issued in another country" in _text(d, "item")
    assert "cust prior orders" in _text(d, "item")  # the customer's history

    # filter by channel, then by queue tab
    _by_id(d, "f-channel").send_keys("app")
    _by_id(d, "apply").click()
    _wait(d, lambda d: _rows(d) == [items["app"].decision_id])
    _by_id(d, "f-channel").clear()
    _by_id(d, "apply").click()
    _wait(d, lambda d: len(_rows(d)) == 4)
    d.find_element(By.CSS_SELECTOR, '#tabs button[data-queue="verification"]').click()
    _wait(d, lambda d: _rows(d) == [items["verify"].decision_id])
    assert "Verifications (1)" in _text(d, "tabs") and "Order holds (2)" in _text(d, "tabs")
    d.find_element(By.CSS_SELECTOR, '#tabs button[data-queue=""]').click()
    _wait(d, lambda d: len(_rows(d)) == 4)

    # another reviewer holds the app order: claiming it shows who has it
    import httpx

    r = httpx.post(f"{live['url']}/v1/reviews/{items['app'].decision_id}/claim",
                   headers={"X-API-Key": live["keys"]["ben"]})
    assert r.status_code == 200
    d.find_element(By.CSS_SELECTOR, f'#rows tr[data-id="{items["app"].decision_id}"]').click()
    _wait(d, lambda d: "Claimed by ben" in _text(d, "item"))
    _by_id(d, "claim").click()
    _wait(d, lambda d: "claimed by ben" in _text(d, "error"))

    # claim and approve the big order with the buttons
    d.find_element(By.CSS_SELECTOR, f'#rows tr[data-id="{items["big"].decision_id}"]').click()
    _wait(d, lambda d: "Order " + items["big"].event_id in _text(d, "item"))
    _by_id(d, "claim").click()
    _wait(d, lambda d: "Claimed by ana" in _text(d, "item"))
    _wait(d, lambda d: "claim by ana" in _text(d, "history"))
    _screenshot(d, "console-queue.png")
    d.find_element(By.CSS_SELECTOR, f'#rows tr[data-id="{items["ret"].decision_id}"]').click()
    _wait(d, lambda d: "Return " + items["ret"].event_id in _text(d, "item"))
    assert "returned 9 of their last 10 orders" in _text(d, "item")
    _screenshot(d, "console-item.png")
    d.find_element(By.CSS_SELECTOR, f'#rows tr[data-id="{items["big"].decision_id}"]').click()
    _wait(d, lambda d: "Claimed by ana" in _text(d, "item"))
    _by_id(d, "reason").send_keys("known customer, card confirmed by phone")
    _by_id(d, "approve").click()
    _wait(d, lambda d: items["big"].decision_id not in _rows(d) and "approved" in _text(d, "notice"))
    assert len(_rows(d)) == 3
    # "next item" opened on its own: the verification (the app order is ben's, but shown)
    _wait(d, lambda d: "Order " in _text(d, "item") and items["big"].event_id not in _text(d, "item"))

    # the keyboard: open the verification, give a reason, decline with "d"
    d.find_element(By.CSS_SELECTOR, f'#rows tr[data-id="{items["verify"].decision_id}"]').click()
    _wait(d, lambda d: "Order " + items["verify"].event_id in _text(d, "item"))
    reason = _by_id(d, "reason")
    reason.send_keys("stolen card pattern")
    reason.send_keys(Keys.ESCAPE)  # leave the field: shortcuts are live again
    d.find_element(By.TAG_NAME, "body").send_keys("d")
    _wait(d, lambda d: items["verify"].decision_id not in _rows(d))
    assert _rows(d) == [items["app"].decision_id, items["ret"].decision_id]

    # resolved items are listed under "resolved" with who and when
    from selenium.webdriver.support.ui import Select

    Select(_by_id(d, "f-status")).select_by_value("resolved")
    _wait(d, lambda d: set(_rows(d)) == {items["big"].decision_id, items["verify"].decision_id})

    # training's label step counts both as labelled by manual reviews
    out = live["home"] / "export"
    export(live["settings"], out, store=live["store"])
    _master_data(out)
    ds = load_dataset(out)
    ev = fraud_events(ds, datetime.now(UTC), window_days=60)
    assert not isinstance(ev, str), ev
    label = dict(zip(ev.ids, ev.labels["fraud"], strict=True))
    assert ev.from_review == 2
    assert not label[items["big"].event_id] and label[items["verify"].event_id]
    # and `triage train` says so (its labels step; the tiny fraud history then has too few frauds to fit)
    lines: list[str] = []
    train_all(ds, cutoff=pd.Timestamp.now(tz="UTC"), register=False, progress=lines.append)
    assert any(line.startswith("triage-fraud: 62 labelled events") and line.endswith("2 labelled by manual reviews")
               for line in lines), "\n".join(lines)


def _master_data(folder: Path) -> None:
    """The retailer's master data the export leaves out (nodes, products, customers)."""
    tables = {
        "nodes.csv": [["node_id", "node_type", "region", "lat", "lon", "daily_capacity"],
                      ["dc-1", "dc", "north", "52.5", "13.4", "1000"]],
        "products.csv": [["sku", "category", "list_price", "unit_cost", "weight_kg", "vendor_id", "is_returnable"],
                         ["sku-1", "apparel", "100", "40", "0.5", "v1", "true"],
                         ["sku-2", "apparel", "20.5", "8", "0.2", "v1", "true"]],
        "customers.csv": [["customer_id", "created_at", "loyalty_tier", "is_guest", "home_region"],
                          ["c-1", "2025-01-01T00:00:00Z", "none", "false", "north"]],
    }
    for name, rows in tables.items():
        with (folder / name).open("w", newline="") as fh:
            csv.writer(fh).writerows(rows)
