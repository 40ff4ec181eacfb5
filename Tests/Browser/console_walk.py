#!/usr/bin/env python3
"""Walks the Herald console in headless Chromium as an operator would, for ConsoleBrowserTests.

Signs in with an admin token, checks the dead-letter list shows the seeded dead delivery, opens its
timeline and the endpoint health page, goes back and clicks Replay in the delivery's row, and waits for
the "replayed" notice. A screenshot of each page (1366x768, a laptop screen) goes into --out. The Swift
test then checks the database: this script only drives the browser.

Exit status: 0 when the walk succeeded, 1 when a check failed, 3 when chromium, chromedriver or selenium
is missing (with how to install them).
"""
import argparse
import os
import sys

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
INSTALL = "install them with: scripts/install-deps.sh --test (apt-get install chromium chromium-driver; python3 -m pip install selenium)"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the server, e.g. http://127.0.0.1:8080")
    parser.add_argument("--token", required=True, help="an admin token")
    parser.add_argument("--delivery", required=True, type=int, help="the dead delivery to replay")
    parser.add_argument("--out", required=True, help="where the screenshots go")
    args = parser.parse_args()

    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        missing.append("selenium (python3 module)")
    if missing:
        print("missing: " + ", ".join(missing) + "; " + INSTALL, file=sys.stderr)
        return 3

    os.makedirs(args.out, exist_ok=True)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--window-size=1366,768", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--hide-scrollbars", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    # Selenium Manager must not try to download a browser or driver: the paths are given.
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    wait = WebDriverWait(driver, 20)
    shots = []

    def shot(name):
        path = os.path.join(args.out, name + ".png")
        driver.save_screenshot(path)
        shots.append(path)

    def check(condition, message):
        if not condition:
            raise AssertionError(message)

    try:
        driver.get(args.base + "/console/")
        wait.until(ec.presence_of_element_located((By.NAME, "token")))
        check(driver.current_url.endswith("/console/login"), "an unsigned browser is sent to the sign-in page: " + driver.current_url)
        shot("1-sign-in")
        driver.find_element(By.NAME, "token").send_keys(args.token)
        driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button").click()

        row_id = "delivery-%d" % args.delivery
        row = wait.until(ec.presence_of_element_located((By.ID, row_id)))
        check("dead" in row.text, "the dead-letter list shows delivery %d as dead: %r" % (args.delivery, row.text))
        check("Dead letters" in driver.find_element(By.TAG_NAME, "h1").text, "the first page is the dead-letter list")
        shot("2-dead-letters")

        row.find_element(By.LINK_TEXT, str(args.delivery)).click()
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Delivery %d" % args.delivery))
        check("attempt 3" in driver.page_source, "the timeline lists the attempts")
        shot("3-delivery-timeline")

        driver.find_element(By.LINK_TEXT, "Endpoint health").click()
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Endpoint health"))
        shot("4-endpoint-health")

        driver.find_element(By.LINK_TEXT, "Dead letters & failures").click()
        row = wait.until(ec.presence_of_element_located((By.ID, row_id)))
        row.find_element(By.CSS_SELECTOR, "button[value='replay']").click()
        notice = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".notice.ok")))
        check("replayed" in notice.text, "the console says the delivery was replayed: %r" % notice.text)
        shot("5-after-replay")
    except Exception as error:  # a failed check or a timeout: say where, with the page, and fail
        shot("failure")
        print("console walk failed at %s: %s" % (driver.current_url, error), file=sys.stderr)
        print(driver.page_source[:3000], file=sys.stderr)
        return 1
    finally:
        driver.quit()
        for path in shots:
            print("screenshot: " + os.path.abspath(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
