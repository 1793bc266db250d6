// The verifier in the browser: scrutin's package verify compiled to
// WebAssembly reads this election's public log (/e/{id}/log/, given in the
// page's data-log) and checks all of it.
"use strict";
(function () {
  const root = document.getElementById("verifier");
  if (!root) return;
  const msgs = JSON.parse(root.dataset.msgs);
  const $ = (id) => document.getElementById(id);
  const fmt = (key, ...args) => (msgs[key] || key).replace(/%(\d)/g, (_, i) => String(args[i - 1]));

  window.scrutinReady = () => { $("run-verify").disabled = false; $("verify-status").textContent = msgs.ready2; };
  const go = new Go();
  WebAssembly.instantiateStreaming(fetch(root.dataset.wasm || "/static/scrutin.wasm"), go.importObject)
    .then((m) => go.run(m.instance), () => { $("verify-status").textContent = msgs.loadFailed; });

  $("form-verify").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    $("run-verify").disabled = true;
    $("verify-report").hidden = true;
    const bar = $("verify-progress");
    bar.hidden = false;
    const progress = (done, total) => {
      bar.max = total; bar.value = done;
      $("verify-status").textContent = fmt("verifying", done, total);
    };
    const fp = $("fingerprint").value.trim().replace(/\s/g, "").toLowerCase();
    const tracker = $("verify-tracker").value.trim().replace(/\s/g, "").toLowerCase();
    const base = location.origin + root.dataset.log;
    const rep = JSON.parse(await window.scrutin.verify(base, fp, tracker, progress));
    bar.hidden = true;
    $("run-verify").disabled = false;
    const details = $("verify-details");
    details.replaceChildren();
    const add = (text) => { const li = document.createElement("li"); li.textContent = text; details.appendChild(li); };
    if (rep.error) {
      $("verify-verdict").textContent = msgs.invalid;
      add(rep.error);
    } else {
      $("verify-verdict").textContent = rep.ok ? msgs.valid : msgs.invalid;
      add(fmt("entries", rep.entries, rep.ballots, rep.selections, rep.counted_ballots));
      if (rep.ok && !rep.decided) add(fmt("notDecided", rep.phase)); // spec §19
      if (rep.tracker) {
        add(rep.tracker.found ? fmt("trackerFound", rep.tracker.index, rep.tracker.counted ? msgs.counted : msgs.replaced) : msgs.trackerNotFound);
      }
      for (const f of rep.failures) add(fmt("failure", f.entry, f.check, f.reason));
    }
    $("verify-verdict").className = rep.ok ? "ok" : "error";
    $("verify-status").textContent = "";
    $("verify-report").hidden = false;
    $("verify-verdict").focus();
  });
})();
