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

  function insertRows(html) {
    var body = document.querySelector("#lead-results .lead-table tbody");
    if (!body) return false;
    var holder = document.createElement("tbody");
    holder.innerHTML = html; // the server's own escaped template, like every htmx swap
    var rows = Array.prototype.slice.call(holder.querySelectorAll("tr.lead-row")).filter(function (row) {
      return !document.getElementById(row.id); // already drawn when the page was
    });
    rows.reverse().forEach(function (row) {
      body.insertBefore(row, body.firstChild);
      if (window.htmx) window.htmx.process(row); // its Call and WhatsApp forms
    });
    document.dispatchEvent(new CustomEvent("live:rows-added")); // age badges count from now
    return true;
  }

  function notify(count, html) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    var holder = document.createElement("tbody");
    holder.innerHTML = html;
    var names = Array.prototype.map.call(holder.querySelectorAll("td.name bdi"), function (name) {
      return name.textContent;
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
      if (live.dataset.firstPage !== "true" || !insertRows(html)) live.dataset.firstPage = "false";
      unseen += count;
      showCount();
      notify(count, html);
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
