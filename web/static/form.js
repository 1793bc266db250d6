// The manifest form: the voting window is typed in the officer's time
// zone, the browser's; this fills it in and names it (without scripts the
// officer types the zone, UTC by default).
"use strict";
(function () {
  const zone = document.getElementById("f-zone");
  let tz = "";
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { tz = ""; }
  if (!zone || !tz) return;
  const named = document.getElementById("browser-zone");
  if (named) named.textContent = tz;
  if (zone.value === "" || (zone.value === "UTC" && !zone.hasAttribute("aria-invalid") && !document.querySelector("#manifest-form [aria-invalid]"))) {
    zone.value = tz;
  }
})();
