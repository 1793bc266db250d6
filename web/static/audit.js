// Checks a booth's audit record (spec §21.3) with scrutin's package election
// compiled to WebAssembly, against this election's key.
"use strict";
(function () {
  const root = document.getElementById("auditor");
  if (!root) return;
  const msgs = JSON.parse(root.dataset.msgs);
  const apiBase = root.dataset.api; // this election's API: /api/e/{id}
  const $ = (id) => document.getElementById(id);
  const fmt = (key, ...args) => (msgs[key] || key).replace(/%(\d)/g, (_, i) => String(args[i - 1]));
  let electionJSON = "", election = null;

  fetch(apiBase + "/election", { cache: "no-store" }).then((r) => r.text()).then((t) => {
    electionJSON = t;
    election = JSON.parse(t);
    window.scrutinReady = () => { $("run-audit").disabled = false; };
    const go = new Go();
    return WebAssembly.instantiateStreaming(fetch(root.dataset.wasm || "/static/scrutin.wasm"), go.importObject).then((m) => go.run(m.instance));
  }).catch(() => { $("audit-out").textContent = msgs.loadFailed; });

  // The record as the booth saved it (a file), or pasted: a file chosen
  // fills the box, where it can be read.
  let reading = Promise.resolve();
  $("record-file").addEventListener("change", () => {
    const file = $("record-file").files[0];
    if (!file) return;
    reading = file.size > 1 << 20 ? Promise.resolve() : file.text().then((t) => { $("record").value = t.trim(); });
  });

  $("form-audit").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await reading;
    const out = $("audit-out");
    out.replaceChildren();
    const p = document.createElement("p");
    out.appendChild(p);
    if (!$("record").value.trim()) {
      p.className = "error";
      p.textContent = msgs.auditEmpty;
      return;
    }
    // The contests the record's credential may answer (spec §21.3 step 6).
    let contests = "[]";
    try {
      const cred = JSON.parse($("record").value).credential;
      const resp = await fetch(apiBase + "/credentials/" + encodeURIComponent(cred), { cache: "no-store" });
      const body = await resp.json();
      if (!resp.ok) {
        p.className = "error";
        p.textContent = resp.status === 404 || resp.status === 400 ? msgs.auditUnknownCredential : msgs.auditFailed + " " + body.error;
        return;
      }
      contests = JSON.stringify(body.contests);
    } catch (e) { /* not JSON: the check below says so */ }
    const r = JSON.parse(window.scrutin.checkAudit(electionJSON, $("record").value, contests));
    if (r.error) {
      p.className = "error";
      p.textContent = msgs.auditFailed + " " + r.error;
      return;
    }
    p.className = "ok";
    p.textContent = fmt("auditOk", r.code.replace(/(.{4})(?=.)/g, "$1 "));
    const ul = document.createElement("ul");
    election.manifest.contests.forEach((ct, c) => {
      if (r.choices[c] === null) return;
      const lang = document.documentElement.lang;
      const names = r.choices[c].map((o) => ct.options[o].title[lang] || ct.options[o].title.en);
      const li = document.createElement("li");
      const q = document.createElement("span");
      q.className = "question";
      q.textContent = ct.title[lang] || ct.title.en;
      const a = document.createElement("strong");
      a.className = "answer";
      a.textContent = names.length ? names.join(", ") : msgs.blank;
      li.append(q, " ", a);
      ul.appendChild(li);
    });
    out.appendChild(ul);
  });
})();
