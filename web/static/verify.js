// The verifier in the browser: scrutin's package verify compiled to
// WebAssembly reads this election's public log (/e/{id}/log/, given in the
// page's data-log) and checks all of it.
"use strict";
(function () {
  const root = document.getElementById("verifier");
  if (!root) return;
  const msgs = JSON.parse(root.dataset.msgs);
  const $ = (id) => document.getElementById(id);
  // Numbers as the page's language writes them (12,345 or 12 345).
  const lang = document.documentElement.lang;
  const fmt = (key, ...args) => (msgs[key] || key).replace(/%(\d)/g, (_, i) => {
    const a = args[i - 1];
    return typeof a === "number" ? a.toLocaleString(lang) : String(a);
  });

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
    if (fp !== "" && !/^[0-9a-f]{64}$/.test(fp)) {
      bar.hidden = true;
      $("run-verify").disabled = false;
      $("verify-status").textContent = msgs.badFingerprint;
      $("verify-status").className = "status error";
      $("fingerprint").focus();
      return;
    }
    $("verify-status").className = "status";
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
      add(fmt("checked", rep.entries, rep.ballots, rep.selections, rep.counted_ballots));
      if (rep.ok) add(rep.fingerprint_announced ? msgs.announced : msgs.notAnnounced);
      if (rep.ok && !rep.decided) add(fmt("notDecided", rep.phase)); // spec §19
      if (rep.tracker) {
        add(rep.tracker.found ? fmt("trackerFound", rep.tracker.index, rep.tracker.counted ? msgs.counted : rep.tracker.revoked ? msgs.revoked : msgs.replaced) : msgs.trackerNotFound);
      }
      for (const f of rep.failures) add(fmt("failure", f.entry, f.check, f.reason));
    }
    $("verify-result").replaceChildren();
    if (rep.ok && rep.result) await showResult(rep.result);
    $("verify-verdict").className = rep.ok ? "ok" : "error";
    $("verify-status").textContent = "";
    $("verify-report").hidden = false;
    $("verify-verdict").focus();
  });

  // The result the verifier recomputed from the log, beside the one the
  // server publishes (its results page, as JSON): they must be the same.
  async function showResult(result) {
    const box = $("verify-result");
    let published = null;
    try {
      const r = await fetch(box.dataset.results, { cache: "no-store" });
      if (r.ok) published = await r.json();
    } catch (e) { /* shown as missing */ }
    const lang = document.documentElement.lang;
    const title = (t) => (t && (t[lang] || t.en)) || "";
    const h = document.createElement("h3");
    h.textContent = msgs.resultTitle;
    box.appendChild(h);
    result.contests.forEach((rc, c) => {
      const pc = published && published.contests[c];
      const table = document.createElement("table");
      table.className = "result compare";
      const cap = document.createElement("caption");
      cap.textContent = pc ? title(pc.title) : String(c + 1);
      table.appendChild(cap);
      const head = table.createTHead().insertRow();
      for (const k of ["option", "recomputed", "published"]) {
        const th = document.createElement("th");
        th.scope = "col";
        th.textContent = msgs[k];
        head.appendChild(th);
      }
      const body = table.createTBody();
      rc.counts.forEach((n, o) => {
        const row = body.insertRow();
        const th = document.createElement("th");
        th.scope = "row";
        th.textContent = pc && pc.options[o] ? title(pc.options[o].title) : String(o + 1);
        row.appendChild(th);
        row.insertCell().textContent = n.toLocaleString(lang);
        const p = pc && pc.counts ? pc.counts[o] : undefined;
        const cell = row.insertCell();
        cell.textContent = p === undefined ? "?" : p.toLocaleString(lang) + " · " + (p === n ? msgs.same : msgs.differs);
        cell.className = p === n ? "ok" : "error";
      });
      box.appendChild(table);
    });
  }
})();
