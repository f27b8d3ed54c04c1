// Roster import page: while the import is being checked or applied, reload the page every few
// seconds so its progress and then its preview appear. Without JavaScript, the page's
// "Refresh" link does the same.
(function () {
  "use strict";
  var section = document.querySelector("[data-refresh-seconds]");
  if (!section) {
    return;
  }
  var seconds = parseFloat(section.getAttribute("data-refresh-seconds")) || 2;
  window.setTimeout(function () {
    window.location.reload();
  }, seconds * 1000);
})();
