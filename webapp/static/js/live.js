// The live list: every few seconds ask the server for leads newer than the newest this view knows.
// The server answers 204 (nothing new) or the new rows. On the first page they slide in at the top;
// on any other view a bar says how many arrived. The tab title carries the count, and the browser
// notifies only after the person pressed "Notify me" and allowed it. Without this file the list
// simply shows new leads on reload.
(function () {
  "use strict";

  var POLL_MS = 3000;
  var MAX_BACKOFF_MS = 60000;
  var baseTitle = document.title;
  var unseen = 0;
  var delay = POLL_MS;

  function state() {
    return document.getElementById("live-list");
  }

  function showCount() {
    document.title = unseen ? "(" + unseen + ") " + baseTitle : baseTitle;
    var bar = document.getElementById("live-bar");
    var live = state();
    if (!bar || !live) return;
    if (unseen && live.dataset.firstPage !== "true") {
      bar.querySelector(".live-count").textContent = unseen + (unseen === 1 ? " new lead" : " new leads");
      bar.hidden = false;
    }
  }

  // The answer's rows (the server's own escaped template, like every htmx swap), newest first.
  function rowsOf(html) {
    var holder = document.createElement("tbody");
    holder.innerHTML = html;
    return Array.prototype.slice.call(holder.querySelectorAll("tr.lead-row"));
  }

  // "12 leads match": the words _lead_results.html uses, for its count plus the rows slid in.
  function countRows(added) {
    var count = document.getElementById("result-count");
    if (!count || !added) return;
    var total = Number(count.dataset.total) + added;
    var capped = count.dataset.capped === "true";
    var one = total === 1 && !capped;
    count.dataset.total = total;
    count.textContent = total.toLocaleString("en-US") + (capped ? "+" : "") + (one ? " lead" : " leads") +
      (count.dataset.filtered === "true" ? (one ? " matches" : " match") : "");
  }

  // Puts the rows not drawn already at the top of the table and returns them (null: there is no table).
  function insertRows(rows) {
    var table = document.querySelector("#lead-results .lead-table");
    var body = table && table.querySelector("tbody");
    if (!body) return null;
    var added = rows.filter(function (row) {
      return !document.getElementById(row.id); // already drawn when the page was
    });
    added.slice().reverse().forEach(function (row) {
      body.insertBefore(row, body.firstChild);
      if (window.htmx) window.htmx.process(row); // its Call and WhatsApp forms
    });
    if (added.length) table.hidden = false; // a view that had no rows has one now
    countRows(added.length);
    document.dispatchEvent(new CustomEvent("live:rows-added")); // age badges count from now
    return added;
  }

  function notify(count, rows) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var names = rows.map(function (row) {
      var name = row.querySelector("td.name bdi");
      return name ? name.textContent : "";
    });
    new Notification(count === 1 ? "New lead" : count + " new leads",
                     { body: names.slice(0, 3).join(", "), tag: "raam-new-leads" });
  }

  function receive(response) {
    var live = state();
    if (!live) return;
    var newest = response.headers.get("X-Newest-Id");
    if (newest) live.dataset.after = newest;
    if (response.status !== 200) return;
    var count = Number(response.headers.get("X-New-Leads")) || 0;
    return response.text().then(function (html) {
      if (live !== state()) return; // the view changed meanwhile; its own poll will ask again
      // On the first page only the rows not drawn already are new (a page drawn as a lead was being routed
      // can be asked about it again); elsewhere the server's count is what the bar says.
      var rows = rowsOf(html);
      var added = live.dataset.firstPage === "true" ? insertRows(rows) : null;
      if (added === null) live.dataset.firstPage = "false";
      var fresh = added === null ? count : added.length;
      if (!fresh) return;
      unseen += fresh;
      showCount();
      notify(fresh, added || rows);
    });
  }

  function poll() {
    var live = state();
    if (!live) return schedule();
    var url = live.dataset.liveUrl + (live.dataset.liveUrl.indexOf("?") < 0 ? "?" : "&") +
              "after=" + encodeURIComponent(live.dataset.after);
    // HX-Request: a signed-out session answers 401 here instead of redirecting to the sign-in page.
    fetch(url, { credentials: "same-origin", headers: { "HX-Request": "true" } })
      .then(function (response) {
        if (response.status === 401) return "stop";
        delay = response.status >= 500 ? Math.min(delay * 2, MAX_BACKOFF_MS) : POLL_MS;
        return receive(response);
      })
      .catch(function () { delay = Math.min(delay * 2, MAX_BACKOFF_MS); })
      .then(function (outcome) { if (outcome !== "stop") schedule(); });
  }

  function schedule() {
    window.setTimeout(poll, delay);
  }

  // A new search or filter draws a new view: its count starts again.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "lead-results") {
      unseen = 0;
      showCount();
    }
  });

  // --- Notifications: asked for only when the person presses the button.
  var button = document.getElementById("notify-button");
  if (button && "Notification" in window && Notification.permission === "default") {
    button.hidden = false;
    button.addEventListener("click", function () {
      Notification.requestPermission().then(function () { button.hidden = true; });
    });
  }

  if (state()) schedule();
})();
