// Times in the reader's own format and time zone: the page writes them in
// UTC, in its language; this rewrites each <time datetime> in the browser's.
"use strict";
(function () {
  const lang = document.documentElement.lang;
  const f = new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short" });
  for (const t of document.querySelectorAll("time[datetime]")) {
    const d = new Date(t.getAttribute("datetime"));
    if (!isNaN(d)) t.textContent = f.format(d);
  }
})();
