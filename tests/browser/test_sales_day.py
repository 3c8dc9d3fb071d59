"""A sales person's and a manager's day, in Chromium, against the real server on PostgreSQL."""
import csv
import io
import json
import re
import uuid

from playwright.sync_api import expect

LIST = "/admin/mg-digital-leads"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


def test_sales_person_finds_reads_and_signs_out(page, live_server, send_lead, sign_in, artifacts):
    # This test's leads share a source, and the test works inside it: other tests add leads too.
    send_lead(name="Ravi Kumar", phone_number="9876543210", car_model="MG Windsor EV",
              campaign="EV Awareness Q4", utm_source="sales_day", city="Pune")
    send_lead(name="Sunita Rao", phone_number="+91 91234 56789", car_model="MG Hector",
              campaign="Diwali", utm_source="sales_day")
    send_lead(name="<img src=x onerror=alert(1)><script>alert('xss')</script>", phone_number="9000000001",
              car_model="MG Astor", utm_source="sales_day")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_viewport_size(DESKTOP)

    sign_in(page, "sales")
    page.goto(live_server.url + LIST + "?utm_source=sales_day")
    rows = page.locator("tr.lead-row")
    expect(rows.first).to_contain_text("<img src=x onerror=alert(1)>")  # shown as text, newest first
    expect(page.locator("#result-count")).to_contain_text("3 leads")
    expect(page.get_by_text("Export CSV")).to_have_count(0)  # sales do not export
    page.screenshot(path=f"{artifacts}/list-desktop.png", full_page=True)

    # Typing narrows the table without reloading the page (htmx), and the URL follows.
    page.evaluate("window.__sameDocument = true")
    page.fill("#q", "98765")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Ravi Kumar")
    expect(page).to_have_url(re.compile(r"\?q=98765&utm_source=sales_day$"))
    assert page.evaluate("window.__sameDocument") is True

    # A filter combines with the search; reloading the URL gives the same view.
    page.fill("#q", "")
    expect(rows).to_have_count(3)
    page.select_option("select[name=car_model]", "MG Hector")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"\?car_model=MG(\+|%20)Hector&utm_source=sales_day$"))
    page.reload()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Sunita Rao")
    expect(page.locator("select[name=car_model]")).to_have_value("MG Hector")

    # Back goes to the previous state.
    page.go_back()
    expect(rows).to_have_count(3)

    # Open a lead and read its payload.
    page.goto(live_server.url + LIST + "?q=ravi&utm_source=sales_day")
    page.get_by_role("link", name="Ravi Kumar").click()
    expect(page.locator("h1")).to_have_text("Ravi Kumar")
    expect(page.locator("#payload-json")).to_contain_text('"city": "Pune"')
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page.get_by_role("button", name="Copy JSON").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert json.loads(page.evaluate("navigator.clipboard.readText()"))["city"] == "Pune"
    expect(page.locator("form.contact-form", has=page.get_by_role("button", name="Call +91 98765 43210"))).to_have_attribute(
        "data-contact-href", "tel:+919876543210")  # pressing it records the call, then dials
    page.screenshot(path=f"{artifacts}/lead-desktop.png", full_page=True)

    # The hostile lead's page: text, not markup, and no dialog ever opened.
    page.goto(live_server.url + LIST + "?q=onerror")
    page.locator("td.name a").first.click()
    expect(page.locator("h1")).to_contain_text("<script>alert('xss')</script>")
    assert dialogs == []

    # Sign out: the list is closed again.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login"))  # signed out before the list is asked for again
    page.goto(live_server.url + LIST)
    expect(page).to_have_url(re.compile(r"/login"))


def test_list_reads_well_on_a_phone(page, live_server, send_lead, sign_in, artifacts):
    send_lead(name="Priya Sharma", phone_number="9811122233", car_model="MG Comet EV", campaign="City EV",
              utm_source="cardekho_ads")
    page.set_viewport_size(PHONE)
    sign_in(page, "sales")
    expect(page.locator("tr.lead-row").first).to_be_visible()
    # The filters fold away while none is chosen: the first screen shows the search box and a lead.
    expect(page.locator("select[name=car_model]")).to_be_hidden()
    expect(page.locator("#q")).to_be_visible()
    assert page.locator("tr.lead-row").first.bounding_box()["y"] < PHONE["height"]
    page.screenshot(path=f"{artifacts}/list-phone.png", full_page=True)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page scrolls sideways on a phone ({width}px wide)"
    add = page.get_by_role("link", name="Add a lead").bounding_box()
    assert add["height"] < 2 * 24, "the header's buttons keep their words on one line"
    page.get_by_role("button", name="Filters").click()
    page.select_option("select[name=car_model]", "MG Comet EV")
    expect(page).to_have_url(re.compile(r"car_model=MG\+Comet\+EV"))
    page.reload()  # a view with a filter chosen opens with the filters shown, counted on the button
    expect(page.locator("select[name=car_model]")).to_be_visible()
    expect(page.get_by_role("button", name="Filters (1)")).to_be_visible()


def test_manager_exports_csv_with_formulas_neutralised(page, live_server, send_lead, sign_in, artifacts):
    send_lead(name='=HYPERLINK("http://evil.example","Click me")', phone_number="+91 98888 77777",
              car_model="MG Gloster")
    page.set_viewport_size(DESKTOP)
    sign_in(page, "manager")
    expect(page.locator("#filter-toggle")).to_be_hidden()  # on a wide screen every filter is shown
    page.select_option("select[name=car_model]", "MG Gloster")
    expect(page.locator("tr.lead-row")).to_have_count(1)
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export CSV").click()
    download = download_info.value
    assert re.fullmatch(r"mg-digital-leads-\d{4}-\d\d-\d\d\.csv", download.suggested_filename)
    text = open(download.path(), encoding="utf-8-sig").read()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["Lead ID", "Received (IST)", "Name"]
    assert [row[2] for row in rows[1:]] == ['\'=HYPERLINK("http://evil.example","Click me")']
    assert rows[1][3] == "+91 98888 77777"

    page.get_by_role("link", name="Export history").click()
    expect(page.locator("table")).to_contain_text("Manager Person")
    expect(page.locator("table")).to_contain_text("car_model=MG Gloster")
    page.screenshot(path=f"{artifacts}/export-history.png", full_page=True)


def test_the_list_works_without_javascript(browser, live_server, send_lead, artifacts):
    tag = "k" + uuid.uuid4().hex[:8]  # this test's own lead, whichever other tests ran first on the server
    send_lead(name=f"Kiran No-Script {tag}", phone_number="9822233344", car_model="MG ZS EV")
    context = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    page = context.new_page()
    try:
        page.goto(live_server.url + LIST)
        page.fill("input[name=email]", "sales@raam.example")
        page.fill("input[name=password]", live_server.password)
        page.click("button[type=submit]")
        page.fill("#q", tag)
        page.click("button:text('Search')")  # a plain GET form
        expect(page).to_have_url(re.compile(f"q={tag}"))
        expect(page.locator("tr.lead-row")).to_have_count(1)
        page.get_by_role("link", name=f"Kiran No-Script {tag}").click()
        expect(page.locator("h1")).to_have_text(f"Kiran No-Script {tag}")
    finally:
        context.close()
