// Load a vendored script when its CDN copy did not arrive (offline, blocked, or refused by its SRI check).
// The script tag that loads this file names the global the CDN script defines (data-global) and the
// vendored URL and hash (data-src, data-integrity).
//
// document.write, as in htmx-fallback.js: a written script is parser-inserted, so it runs before the
// page's next script (reports.js), which needs it.
(function () {
  "use strict";
  var self = document.currentScript;
  var name = self.getAttribute("data-global");
  if (!/^\w+$/.test(name) || window[name]) {
    return;
  }
  var src = self.getAttribute("data-src");
  var integrity = self.getAttribute("data-integrity");
  if (!/^[\w\/.\-]+$/.test(src) || !/^sha384-[\w+\/=]+$/.test(integrity)) {
    return;
  }
  document.write('<script src="' + src + '" integrity="' + integrity + '"><\/script>');
})();
