"""The live list in Chromium: leads posted through the webhook appear without a reload."""
import re

from playwright.sync_api import expect

LIST = "/admin/mg-digital-leads"
ARRIVES_WITHIN_MS = 5000  # the promise: a new lead is on an open list within 5 s


def test_a_new_lead_slides_in_at_the_top_and_the_title_counts_it(page, live_server, send_lead, sign_in, artifacts):
    send_lead(name="Already Here", phone_number="9811111111", utm_source="live_first")
    sign_in(page, "sales")
    page.goto(live_server.url + LIST + "?utm_source=live_first")
    rows = page.locator("tr.lead-row")
    expect(rows).to_have_count(1)
    title = page.title()
    page.evaluate("window.__sameDocument = true")

    count = page.locator("#result-count")
    expect(count).to_have_text("1 lead matches")

    send_lead(name="Fresh Arrival", phone_number="9822222222", car_model="MG Windsor EV", utm_source="live_first")
    send_lead(name="Other Source", phone_number="9833333333", utm_source="elsewhere")  # not in this view
    expect(rows.first).to_contain_text("Fresh Arrival", timeout=ARRIVES_WITHIN_MS)
    expect(rows.first).to_have_class(re.compile(r"\blead-new\b"))
    expect(rows).to_have_count(2)
    expect(page).to_have_title("(1) " + title)
    expect(count).to_have_text("2 leads match")  # what a reload would say
    expect(rows.first.locator(".age-badge")).to_be_visible()  # counting, like every uncontacted lead
    assert page.evaluate("window.__sameDocument") is True  # no reload
    page.screenshot(path=f"{artifacts}/live-new-lead.png", full_page=True)

    send_lead(name="Second Arrival", phone_number="9844444444", utm_source="live_first")
    expect(rows.first).to_contain_text("Second Arrival", timeout=ARRIVES_WITHIN_MS)
    expect(page).to_have_title("(2) " + title)


def test_a_view_with_no_leads_shows_the_first_one_in_place_on_a_phone(page, live_server, send_lead, sign_in,
                                                                     artifacts):
    """A sales person's empty "My new leads" on a phone: the lead appears in the list, not in a bar below the
    filters."""
    page.set_viewport_size({"width": 360, "height": 740})
    sign_in(page, "sales")
    page.goto(live_server.url + LIST + "?utm_source=live_empty")
    expect(page.locator("#result-count")).to_have_text("No leads match.")
    expect(page.locator(".lead-table")).to_be_hidden()

    send_lead(name="Zebrafish Khan", phone_number="9877777777", utm_source="live_empty")
    rows = page.locator("tr.lead-row")
    expect(rows).to_have_count(1, timeout=ARRIVES_WITHIN_MS)
    expect(rows.first).to_be_visible()
    expect(rows.first).to_contain_text("Zebrafish Khan")
    expect(page.locator("#result-count")).to_have_text("1 lead matches")
    expect(page.locator("#live-bar")).to_be_hidden()
    expect(page).to_have_title(re.compile(r"^\(1\) "))
    page.screenshot(path=f"{artifacts}/live-empty-view-phone.png", full_page=True)


def test_on_page_two_a_bar_counts_the_new_leads_and_shows_them(page, live_server, send_lead, sign_in, artifacts):
    for number in range(51):  # one more than a page
        send_lead(name=f"Older {number}", phone_number=f"97{number:08d}", utm_source="live_second")
    sign_in(page, "sales")
    page.goto(live_server.url + LIST + "?utm_source=live_second")
    page.get_by_role("link", name="Older leads →").click()
    expect(page.locator("tr.lead-row")).to_have_count(1)
    bar = page.locator("#live-bar")
    expect(bar).to_be_hidden()

    send_lead(name="New One", phone_number="9855555555", utm_source="live_second")
    send_lead(name="New Two", phone_number="9866666666", utm_source="live_second")
    expect(bar).to_contain_text("2 new leads — show", timeout=ARRIVES_WITHIN_MS + 3000)  # two arrivals, maybe two polls
    expect(page).to_have_title(re.compile(r"^\(2\) "))
    expect(page.locator("tr.lead-row")).to_have_count(1)  # page two itself stays as it was
    page.screenshot(path=f"{artifacts}/live-bar.png", full_page=True)

    bar.get_by_role("link", name="show").click()
    expect(page.locator("tr.lead-row").first).to_contain_text("New Two")


def test_notifications_are_asked_for_only_when_the_button_is_pressed(page, live_server, sign_in):
    page.add_init_script("""window.__asked = 0;
        Notification.requestPermission = () => { window.__asked += 1; return Promise.resolve('denied'); };""")
    sign_in(page, "sales")
    if page.evaluate("Notification.permission") != "default":
        return  # this Chromium has decided already, so there is nothing to ask
    button = page.locator("#notify-button")
    expect(button).to_be_visible()
    assert page.evaluate("window.__asked") == 0  # nothing asked on opening the list
    button.click()
    expect(button).to_be_hidden()
    assert page.evaluate("window.__asked") == 1


def test_a_lead_drawn_already_is_neither_drawn_again_nor_counted(page, live_server, send_lead, sign_in):
    # A page drawn while its newest lead was being routed asks about that lead again (each worker caches the
    # newest id for a second): the view holds it already, so it is not new.
    send_lead(name="Drawn Once", phone_number="9877777777", utm_source="live_third")
    page.add_init_script("""window.__notes = [];
        window.Notification = function (title, options) { window.__notes.push([title, options.body]); };
        window.Notification.permission = 'granted';""")  # as if the person had allowed notifications
    sign_in(page, "sales")
    page.goto(live_server.url + LIST + "?utm_source=live_third")
    rows = page.locator("tr.lead-row")
    expect(rows).to_have_count(1)
    title = page.title()
    page.evaluate("() => { const live = document.getElementById('live-list');"
                  " live.dataset.after = String(Number(live.dataset.after) - 1); }")

    send_lead(name="Truly New", phone_number="9888888888", utm_source="live_third")
    expect(rows.first).to_contain_text("Truly New", timeout=ARRIVES_WITHIN_MS)
    expect(page).to_have_title("(1) " + title)
    expect(rows).to_have_count(2)
    expect(page.locator("tr.lead-row", has_text="Drawn Once")).to_have_count(1)
    assert page.evaluate("window.__notes") == [["New lead", "Truly New"]]


def minutes_about(seconds: int) -> re.Pattern:
    """The badge's whole minutes for `seconds` of waiting, or one more (the page's clock also runs on its own
    between the test's steps)."""
    return re.compile(rf"^({seconds // 60}|{seconds // 60 + 1}) min$")


def test_an_age_badge_keeps_counting_amber_then_red_without_a_reload(page, live_server, send_lead, sign_in):
    page.clock.install()  # the page's clock, moved on by the test
    send_lead(name="Waiting Wanda", phone_number="9812345670", utm_source="live_badge")
    sign_in(page, "sales")
    page.goto(live_server.url + LIST + "?utm_source=live_badge")
    page.evaluate("window.__sameDocument = true")
    badge = page.locator("tr.lead-row .age-badge")
    expect(badge).to_have_text(re.compile(r"^\d+ min$"))
    # Drawn as the server draws it while business hours are open (this test may run at night in India): it
    # counts on for the ten hours until closing. When it counts is the server's rule (test_work_list.py).
    badge.evaluate("b => { b.dataset.counting = 'true'; b.dataset.stopsIn = '36000'; b.dataset.minutes = '0'; }")
    amber_after, late_after = (int(badge.get_attribute(name)) for name in ("data-amber-after", "data-late-after"))
    page.clock.run_for(amber_after * 1000 + 20_000)
    expect(badge).to_have_class(re.compile(r"\bage-amber\b"))
    expect(badge).to_have_text(minutes_about(amber_after + 20))
    page.clock.run_for((late_after - amber_after) * 1000)
    expect(badge).to_have_class(re.compile(r"\bage-late\b"))
    expect(badge).to_have_text(minutes_about(late_after + 20))
    assert page.evaluate("window.__sameDocument") is True  # no reload
