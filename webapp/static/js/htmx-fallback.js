// Load the vendored htmx when the CDN copy did not arrive (offline, blocked, or refused by its SRI
// check). The script tag that loads this file carries the vendored URL and hash as data attributes.
//
// document.write rather than appendChild, on purpose: a written script is parser-inserted and runs
// before DOMContentLoaded, which htmx 2 waits for to initialise itself; an appended script may run
// after that event and leave htmx loaded but never started.
(function () {
  "use strict";
  if (window.htmx) {
    return;
  }
  var self = document.currentScript;
  var src = self.getAttribute("data-htmx-src");
  var integrity = self.getAttribute("data-htmx-integrity");
  if (!/^[\w\/.\-]+$/.test(src) || !/^sha384-[\w+\/=]+$/.test(integrity)) {
    return;
  }
  document.write('<script src="' + src + '" integrity="' + integrity + '"><\/script>');
})();
