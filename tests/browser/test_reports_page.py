"""The reports page in Chromium against the real server on PostgreSQL: charts drawn, tables agree, a click filters."""
import re
import time
from datetime import datetime, timedelta

from playwright.sync_api import expect

from webapp.leads.timezones import IST

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}
WATCH_CSP = """
window.__violations = [];
document.addEventListener('securitypolicyviolation', e => window.__violations.push(e.violatedDirective));
"""
# Each drawn chart: how many of its pixels are painted, and its numbers per series.
CHARTS = """() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(canvas => {
    const context = canvas.getContext('2d');
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) { if (pixels[i] > 0) painted++; }
    const chart = window.Chart && window.Chart.getChart(canvas);
    return {id: canvas.id, painted: painted, series: chart ? chart.data.datasets.map(d => ({label: d.label,
            data: d.data})) : null, labels: chart ? chart.data.labels : null};
})"""


def a_day_that_outlasts_the_test(minutes: int = 3) -> str:
    """Today in IST, once at least `minutes` of it are left (past 18:27 UTC it waits for tomorrow): the leads
    the test sends and the day it shows are one day."""
    now = datetime.now(IST)
    left = (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), IST) - now).total_seconds()
    if left < minutes * 60:
        time.sleep(left + 1)
    return datetime.now(IST).date().isoformat()


def table_column(page, key: str, label: str) -> list:
    """The numbers in one column of a report's table, as the page shows them."""
    headers = page.locator(f"#table-{key} thead th").all_inner_texts()
    position = [header.strip().lower() for header in headers].index(label.lower()) + 1
    cells = page.locator(f"#table-{key} tbody tr > :nth-child({position})").all_inner_texts()
    return [None if text.strip() == "–" else float(text) for text in cells]


def test_the_reports_page_draws_its_charts_agrees_with_its_tables_and_a_click_opens_the_leads(
        page, live_server, send_lead, sign_in, artifacts):
    today = a_day_that_outlasts_the_test()
    for name in ("Kiran Shah", "Leela Menon", "Omar Sheikh"):
        send_lead(name=name, phone_number="98200" + str(abs(hash(name)) % 100000).zfill(5),
                  car_model="MG Windsor EV", campaign="Reports Day", utm_source="reports_day")
    page.context.add_init_script(WATCH_CSP)
    page.route("https://unpkg.com/**", lambda route: route.abort("namenotresolved"))  # offline: the vendored copies
    page.set_viewport_size(DESKTOP)
    sign_in(page, "manager")
    page.goto(f"{live_server.url}/admin/reports?date_from={today}&date_to={today}")
    expect(page.locator("h1")).to_have_text("Reports")
    page.wait_for_function("() => document.querySelectorAll('canvas[data-chart]').length > 0 && "
                           "Array.from(document.querySelectorAll('canvas[data-chart]')).every(c => Chart.getChart(c))")

    charts = page.evaluate(CHARTS)
    assert {chart["id"] for chart in charts} >= {"chart-leads-per-day", "chart-speed-by-day", "chart-funnel",
                                                 "chart-models", "chart-campaigns", "chart-repeats"}
    for chart in charts:
        assert chart["painted"] > 500, chart["id"]  # drawn, not a blank canvas
        key = chart["id"].removeprefix("chart-")
        for series in chart["series"]:
            if series["label"] == "Previous period" or key == "leads-per-day" and series["label"] != "reports_day":
                continue
            assert series["data"] == table_column(page, key, series["label"]), (key, series["label"])
    leads_per_day = next(chart for chart in charts if chart["id"] == "chart-leads-per-day")
    ours = next(series for series in leads_per_day["series"] if series["label"] == "reports_day")
    assert ours["data"] == [3] == table_column(page, "leads-per-day", "reports_day")
    assert page.evaluate("window.__violations") == []
    page.screenshot(path=f"{artifacts}/reports-desktop.png", full_page=True)

    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_function("() => Array.from(document.querySelectorAll('canvas[data-chart]'))"
                           ".every(c => Chart.getChart(c))")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
    page.screenshot(path=f"{artifacts}/reports-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)
    page.reload()
    page.wait_for_function("() => Array.from(document.querySelectorAll('canvas[data-chart]'))"
                           ".every(c => Chart.getChart(c))")

    # Click this test's bar in the leads-per-day chart: the list opens with exactly those three leads.
    page.locator("#chart-leads-per-day").scroll_into_view_if_needed()
    point = page.evaluate("""() => {
        const chart = Chart.getChart(document.getElementById('chart-leads-per-day'));
        const index = chart.data.datasets.findIndex(d => d.label === 'reports_day');
        const bar = chart.getDatasetMeta(index).data[0];
        const box = chart.canvas.getBoundingClientRect();
        return {x: box.left + bar.x, y: box.top + (bar.y + bar.base) / 2};
    }""")
    page.mouse.click(point["x"], point["y"])
    page.wait_for_url(re.compile(r"/admin/mg-digital-leads\?"))
    assert f"date_from={today}" in page.url and f"date_to={today}" in page.url and "source=reports_day" in page.url
    expect(page.locator("#result-count")).to_contain_text("3 leads")
    expect(page.locator("tr.lead-row")).to_have_count(3)

    # A row of a table does the same without JavaScript: the funnel-by-source row for this source.
    page.go_back()
    page.locator("#table-funnel-by-source a", has_text="reports_day").first.click()
    expect(page.locator("#result-count")).to_contain_text("3 leads")
