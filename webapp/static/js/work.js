// Working leads: Call and WhatsApp open after htmx has recorded the press, age badges keep counting,
// refusals of the action forms are shown, and the list's select-all box. Every action also works without
// this file (plain forms; the server redirects a Call or WhatsApp press to its link).
(function () {
  "use strict";

  // --- Call and WhatsApp: htmx posts the form (the press is recorded); then the phone or WhatsApp opens.
  // Through a link's click, as if the person had pressed a tel: or wa.me link (a new tab for WhatsApp).
  function openContact(href) {
    var link = document.createElement("a");
    link.href = href;
    if (href.indexOf("tel:") !== 0) {
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    }
    document.body.appendChild(link);
    link.click();
    link.remove();
  }

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (!form || !form.hasAttribute || !form.hasAttribute("data-contact-href")) return;
    if (event.detail.xhr.status === 401) return; // signed out: htmx goes to the sign-in page
    var row = form.closest("tr.lead-row");
    var badge = row && row.querySelector(".age-badge");
    if (badge && event.detail.successful) badge.remove(); // contacted: no longer waiting
    // The call matters more than its record: the link opens even if recording failed.
    openContact(form.getAttribute("data-contact-href"));
  });

  // --- On a phone the list's filters fold away behind a "Filters" button while none is chosen, so the first
  // screen shows leads; the search box stays. Without this file (or on a wider screen) they are all shown.
  var filterForm = document.getElementById("lead-filters");
  var filterToggle = document.getElementById("filter-toggle");
  if (filterForm && filterToggle && window.matchMedia("(max-width: 47.99rem)").matches) {
    var fold = function (folded) {
      filterForm.classList.toggle("filters-folded", folded);
      filterToggle.setAttribute("aria-expanded", String(!folded));
    };
    filterToggle.hidden = false;
    fold(filterToggle.dataset.chosen === "0");
    filterToggle.addEventListener("click", function () {
      fold(!filterForm.classList.contains("filters-folded"));
    });
  }

  // --- A refused change (400 not sensible, 403 not allowed) comes back as the same panel with the reason:
  // swap it in like a success for the forms that ask for it, instead of htmx's default of showing nothing.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    if ((status === 400 || status === 403) && source && source.closest && source.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // --- Age badges: the server renders the business minutes waited and the thresholds; count on from there.
  var RANK = { ok: 0, amber: 1, late: 2 };

  function label(minutes) {
    var hours = Math.floor(minutes / 60);
    return hours ? hours + " h " + (minutes % 60) + " min" : minutes + " min";
  }

  function updateBadge(badge, now) {
    var data = badge.dataset;
    if (!data.seenAt) data.seenAt = String(now);
    if (data.counting !== "true") return; // outside business hours the wait does not grow
    var elapsed = Math.min((now - Number(data.seenAt)) / 1000, Number(data.stopsIn));
    var waited = Number(data.minutes) * 60 + Math.max(elapsed, 0);
    var state = waited > Number(data.lateAfter) ? "late" : waited > Number(data.amberAfter) ? "amber" : "ok";
    var shown = badge.className.replace(/.*\bage-(ok|amber|late)\b.*/, "$1");
    if (RANK[state] < RANK[shown]) state = shown; // the server's state may be ahead of the whole minutes
    badge.textContent = label(Math.floor(waited / 60));
    badge.className = "age-badge age-" + state;
  }

  function updateBadges() {
    var now = Date.now();
    document.querySelectorAll(".age-badge").forEach(function (badge) { updateBadge(badge, now); });
  }

  updateBadges();
  window.setInterval(updateBadges, 10000);
  document.addEventListener("htmx:afterSettle", updateBadges);
  document.addEventListener("live:rows-added", updateBadges); // rows the live list slid in

  // --- The list's select-all box (hidden without this script, where it could do nothing).
  function showSelectAll() {
    document.querySelectorAll("[data-select-all]").forEach(function (box) { box.hidden = false; });
  }

  // On a phone the toolbar waits out of sight until a lead is ticked, then sits at the bottom (app.css).
  function updateToolbar() {
    var toolbar = document.getElementById("bulk-form");
    if (!toolbar) return;
    toolbar.classList.add("bulk-live");
    toolbar.classList.toggle("bulk-idle", !document.querySelector('input[name="lead_ids"]:checked'));
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches("[data-select-all]")) {
      document.querySelectorAll('input[name="lead_ids"]').forEach(function (box) {
        box.checked = event.target.checked;
      });
    }
    if (event.target.matches('[data-select-all], input[name="lead_ids"]')) updateToolbar();
  });

  showSelectAll();
  updateToolbar();
  document.addEventListener("htmx:afterSettle", function () {
    showSelectAll();
    updateToolbar();
  });
})();
