// Times in the reader's own format and time zone: the page writes them in
// UTC, in its language; this rewrites each <time datetime> in the browser's
// zone, naming it (the exact instant stays in the datetime attribute).
"use strict";
(function () {
  const lang = document.documentElement.lang;
  const f = new Intl.DateTimeFormat(lang, { day: "numeric", month: "long", year: "numeric", hour: "2-digit", minute: "2-digit", timeZoneName: "short" });
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) {
      t.title = t.textContent; // the UTC time the page wrote
      t.textContent = f.format(d);
    }
  }
})();
