"""Working the leads in Chromium against the real server on PostgreSQL: a sales person's morning, a manager's bulk
assignment, and Call without JavaScript. Leads arrive through the webhook and get their owner from the router."""
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

LIST = "/admin/mg-digital-leads"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 360, "height": 740}


@pytest.fixture
def tag():
    """A word unique to this test, so it finds its own leads among every other test's."""
    return "t" + uuid.uuid4().hex[:8]


def wait_for_rows(page, url: str, count: int, timeout: float = 15):
    """Reload `url` until the list shows `count` rows (the router gives new leads an owner within seconds)."""
    rows = page.locator("tr.lead-row")
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if rows.count() == count or time.monotonic() > deadline:
            expect(rows).to_have_count(count)
            return rows
        page.wait_for_timeout(300)


# Headless Chromium has no phone: a tel: link it follows opens an invisible prompt that swallows later clicks.
# The page's own click on the link is caught here instead, and the number it would dial is kept.
CATCH_DIALLING = """
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest('a[href^="tel:"]');
  if (link) { event.preventDefault(); (window.__dialled = window.__dialled || []).push(link.href); }
}, true);
"""


def no_sideways_scroll(page):
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= page.viewport_size["width"], f"the page scrolls sideways ({width}px wide)"


def test_a_sales_persons_morning(page, live_server, send_lead, sign_in, artifacts, tag):
    send_lead(name=f"Kavya Menon {tag}", phone_number="+91 98450 12345", car_model="MG Windsor EV",
              campaign="EV Awareness Q4", utm_source=tag)
    send_lead(name=f"Arjun Shah {tag}", phone_number="9845067890", car_model="MG Hector", utm_source=tag)
    violations = []
    page.on("console", lambda message: violations.append(message.text) if "Content Security Policy" in message.text
            else None)
    page.add_init_script(CATCH_DIALLING)
    page.set_viewport_size(DESKTOP)
    sign_in(page, "sales")

    # "My new leads" is in the header; both leads are hers within seconds (the only sales person on duty).
    page.get_by_role("link", name="My new leads").click()
    expect(page).to_have_url(re.compile(r"\?status=new&owner=me$"))
    mine = wait_for_rows(page, page.url.split("?")[0] + f"?status=new&owner=me&utm_source={tag}", 2)
    expect(mine.first).to_contain_text("Sales Person")
    expect(mine.first.locator(".age-badge")).to_have_text(re.compile(r"^\d+ min$"))  # waiting, counted
    page.screenshot(path=f"{artifacts}/work-list-desktop.png", full_page=True)
    no_sideways_scroll(page)

    page.get_by_role("link", name=f"Kavya Menon {tag}").click()
    expect(page.locator("h1")).to_have_text(f"Kavya Menon {tag}")
    call = page.locator("form.contact-form", has=page.get_by_role("button", name=re.compile("^Call")))
    expect(call).to_have_attribute("data-contact-href", "tel:+919845012345")

    # Call: the press is in the timeline (swapped in place), then the phone opens (Chromium here has none).
    page.evaluate("window.__samePage = true")
    page.get_by_role("button", name="Call +91 98450 12345").click()
    timeline = page.locator("ol.timeline > li")
    expect(timeline.first).to_contain_text("Sales Person pressed Call")
    page.wait_for_function("window.__dialled && window.__dialled.length === 1")
    assert page.evaluate("window.__dialled") == ["tel:+919845012345"]

    # WhatsApp opens wa.me in a new tab with a greeting naming the model, after the press is recorded.
    page.context.route("https://wa.me/**", lambda route: route.fulfill(body="WhatsApp", content_type="text/plain"))
    with page.expect_popup() as popup:
        page.get_by_role("button", name="WhatsApp").click()
    expect(timeline.first).to_contain_text("Sales Person opened WhatsApp")
    assert re.match(r"https://wa\.me/919845012345\?text=Hello%20Kavya%2C.*MG%20Windsor%20EV", popup.value.url)
    popup.value.close()

    page.select_option("select[name=status]", "contacted")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#lead-work")).to_contain_text("Status: Contacted.")
    page.fill("textarea[name=body]", "Wants a test drive on Saturday <b>morning</b>")
    page.get_by_role("button", name="Add note").click()
    expect(timeline.first).to_contain_text("Wants a test drive on Saturday <b>morning</b>")
    expect(page.locator("textarea[name=body]")).to_have_value("")
    assert page.evaluate("window.__samePage") is True  # all of it without leaving the page
    page.screenshot(path=f"{artifacts}/work-lead-desktop.png", full_page=True)

    page.reload()
    expect(page.locator("select[name=status]")).to_have_value("contacted")
    expect(timeline.nth(0)).to_contain_text("Wants a test drive on Saturday")
    expect(timeline.nth(1)).to_contain_text("New → Contacted")
    expect(timeline.nth(2)).to_contain_text("opened WhatsApp")
    expect(timeline.nth(3)).to_contain_text("pressed Call")

    # Lost needs a reason: the refusal is shown in place, and nothing changes.
    page.select_option("select[name=status]", "lost")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#lead-work .flash-error")).to_have_text("Choose why the lead was lost.")
    expect(page.locator("select[name=status]")).to_have_value("contacted")

    # The list no longer counts her age: she was contacted.
    page.goto(live_server.url + LIST + f"?utm_source={tag}")
    expect(page.locator("tr.lead-row", has_text="Kavya").locator(".age-badge")).to_have_count(0)
    expect(page.locator("tr.lead-row", has_text="Kavya")).to_contain_text("Contacted")

    page.set_viewport_size(PHONE)
    page.screenshot(path=f"{artifacts}/work-list-phone.png", full_page=True)
    no_sideways_scroll(page)
    page.get_by_role("link", name=f"Kavya Menon {tag}").click()
    expect(page.locator("h1")).to_contain_text("Kavya")
    page.screenshot(path=f"{artifacts}/work-lead-phone.png", full_page=True)
    no_sideways_scroll(page)
    assert violations == []


def test_a_manager_bulk_assigns_three_leads(page, live_server, send_lead, sign_in, artifacts, tag):
    for number, name in enumerate(("Farah Khan", "Gopal Iyer", "Hema Joshi")):
        send_lead(name=f"{name} {tag}", phone_number=f"98860{number}1234", car_model="MG Astor", utm_source=tag)
    page.set_viewport_size(DESKTOP)
    sign_in(page, "manager")
    rows = wait_for_rows(page, live_server.url + LIST + f"?utm_source={tag}", 3)
    page.locator("[data-select-all]").check()
    page.select_option("#bulk-form select[name=owner_id]", label="Manager Person")
    page.locator("#bulk-form").get_by_role("button", name="Assign").click()
    expect(page.locator("#lead-results .flash-success")).to_have_text("3 leads given to Manager Person.")
    for index in range(3):
        expect(rows.nth(index).locator("td.owner")).to_have_text("Manager Person")
    expect(page).to_have_url(re.compile(rf"\?utm_source={tag}$"))  # still the same view
    page.screenshot(path=f"{artifacts}/work-bulk-desktop.png", full_page=True)
    page.reload()
    expect(page.locator("td.owner", has_text="Manager Person")).to_have_count(3)


def test_call_without_javascript_records_the_press_then_opens_the_phone(browser, live_server, send_lead, tag):
    send_lead(name=f"Imran No-Script {tag}", phone_number="9822233355", car_model="MG ZS EV", utm_source=tag)
    context = browser.new_context(java_script_enabled=False, viewport=DESKTOP)
    page = context.new_page()
    blocked, opened = [], []
    page.on("console", lambda message: blocked.append(message.text))
    page.on("requestfailed", lambda request: opened.append(request.url) if request.url.startswith("tel:") else None)
    try:
        page.goto(live_server.url + LIST)
        page.fill("input[name=email]", "sales@raam.example")
        page.fill("input[name=password]", live_server.password)
        page.click("button[type=submit]")
        expect(page.get_by_role("button", name="Sign out")).to_be_visible()  # signed in before going on
        page.goto(live_server.url + LIST + f"?utm_source={tag}")
        page.get_by_role("link", name=f"Imran No-Script {tag}").click()
        with page.expect_event("requestfailed", predicate=lambda request: request.url.startswith("tel:")):
            page.get_by_role("button", name=re.compile("^Call")).click()  # a plain form; the answer redirects to tel:
        assert not [text for text in blocked if "Content Security Policy" in text]
        page.reload()
        expect(page.locator("ol.timeline > li").first).to_contain_text("Sales Person pressed Call")
        assert opened == ["tel:+919822233355"]  # the phone was asked to dial (headless Chromium has none)
    finally:
        context.close()
