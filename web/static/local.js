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

// The console's new end of voting is typed in the officer's own zone: say
// which, and send its offset from UTC at that date (without scripts the
// page asks for UTC, and the offset stays 0).
(function () {
  const form = document.getElementById("extend-form");
  if (!form) return;
  const input = document.getElementById("extend-closes");
  const offset = document.getElementById("extend-offset");
  const hint = document.getElementById("extend-closes-hint");
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  hint.textContent = hint.dataset.local.replace("%s", zone);
  form.addEventListener("submit", () => {
    const d = new Date(input.value);
    offset.value = isNaN(d) ? "0" : String(-d.getTimezoneOffset());
  });
})();
