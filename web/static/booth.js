// The voting booth. The encryption, the proofs and the signature are made by
// scrutin's WebAssembly module (the Go packages crypto and election); this
// script only moves between the steps and talks to the server. The voting
// code never leaves this page: only the signed, encrypted ballot is sent.
"use strict";
(function () {
  const booth = document.getElementById("booth");
  if (!booth) return;
  const msgs = JSON.parse(booth.dataset.msgs);
  // This election's API (/api/e/{id}) and pages (/e/{id}), as the page
  // gives them.
  const apiBase = booth.dataset.api, base = booth.dataset.base;
  const $ = (id) => document.getElementById(id);
  const fmt = (key, ...args) => (msgs[key] || key).replace(/%(\d)/g, (_, i) => String(args[i - 1]));
  const steps = ["signin", "credential", "ballot", "review", "audit", "receipt"];
  const state = { election: null, electionJSON: "", token: "", email: "", challenge: "", code: "", eligible: null, encryption: null };

  function status(text, isError) {
    const s = $("status");
    s.textContent = text;
    s.classList.toggle("error", !!isError);
  }
  function show(step, focus) {
    for (const s of steps) $("step-" + s).hidden = s !== step;
    const el = focus ? $(focus) : $("step-" + step).querySelector("input, button, textarea");
    if (el) el.focus();
  }
  // fail tells the voter what went wrong at this step, and what to do, in
  // the page's language: the server's own words (for programs) are kept
  // only as a detail for the organisers, when no sentence here fits.
  function fail(err, step) {
    status(explain(err, step), true);
  }
  function explain(err, step) {
    const code = err && err.status;
    const detail = err && err.message ? err.message : String(err);
    if (err instanceof TypeError && !code) return msgs["err.network"];
    if (err && err.human) return detail;
    const key = {
      email: { 400: "err.email", 409: "err.closed", 429: "err.tooMany", 503: "err.unavailable" },
      code: { 400: "err.codeWrong", 401: "err.codeWrong", 429: "err.tooMany", 503: "err.unavailable" },
      cast: { 401: "err.signedOut", 403: "err.notYours", 409: "err.closed", 429: "err.tooMany", 503: "err.busy" },
    }[step];
    if (key && key[code]) return msgs[key[code]];
    if (code >= 500) return msgs["err.unavailable"];
    return fmt("err.other", detail);
  }
  async function api(method, path, body, token) {
    const headers = { "Content-Type": "application/json" };
    if (token) headers.Authorization = "Bearer " + token;
    const r = await fetch(apiBase + path, { method, headers, body: body === undefined ? undefined : (typeof body === "string" ? body : JSON.stringify(body)), cache: "no-store" });
    let data = {};
    try { data = await r.json(); } catch (e) { /* no body */ }
    if (!r.ok) {
      const e = new Error(data.error || r.statusText);
      e.status = r.status;
      e.data = data;
      throw e;
    }
    return data;
  }
  function call(fn, ...args) {
    const out = JSON.parse(window.scrutin[fn](...args));
    if (out.error) throw new Error(out.error);
    return out;
  }

  // Loading: the module (about a megabyte and a half) loads while the
  // voter signs in; the first step shows as soon as the election's
  // description is here. The module is needed from the voting code on.
  const module = new Promise((resolve, reject) => {
    window.scrutinReady = resolve;
    const go = new Go();
    WebAssembly.instantiateStreaming(fetch(booth.dataset.wasm || "/static/scrutin.wasm"), go.importObject)
      .then((m) => { go.run(m.instance); }, reject);
  });
  module.catch(() => {}); // said when it is needed
  async function ready() {
    let loaded = false;
    module.then(() => { loaded = true; }, () => {});
    await Promise.resolve();
    if (!loaded) status(msgs.loading);
    try { await module; } catch (e) { const h = new Error(msgs.loadFailed); h.human = true; throw h; }
  }
  async function load() {
    const r = await fetch(apiBase + "/election", { cache: "no-store" });
    state.electionJSON = await r.text();
    state.election = JSON.parse(state.electionJSON);
    if (state.election.sign_in === "email") show("signin", "email");
    else show("credential", "credential");
  }
  load().catch(() => status(msgs.loadFailed, true));

  // 1. Sign-in with an e-mailed code.
  $("form-email").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    state.email = $("email").value.trim();
    status(msgs.signingIn);
    try {
      const r = await api("POST", "/sign-in", { email: state.email });
      state.challenge = r.challenge;
      $("form-code").hidden = false;
      // The same answer for every address, on the roll or not: with whom
      // to write to if nothing comes (a lapsed member learns it here).
      const contact = booth.dataset.contact;
      status(contact ? msgs.codeSent + " " + fmt("codeContact", contact) : msgs.codeSent);
      $("code").focus();
    } catch (e) {
      if (e.status === 429 && e.data && e.data.valid_until) {
        // No new letter (spec §20.3): the latest one still works, in its
        // 16-digit form, and the server says when to ask again.
        state.challenge = "";
        $("form-code").hidden = false;
        const clock = { hour: "2-digit", minute: "2-digit" };
        const until = new Date(e.data.valid_until).toLocaleTimeString(document.documentElement.lang, clock);
        const again = new Date(Date.now() + 1000 * e.data.retry_after).toLocaleTimeString(document.documentElement.lang, clock);
        status(fmt("codeNotSent", until, again), true);
        $("code").focus();
      } else fail(e, "email");
    }
  });
  $("form-code").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const r = await api("POST", "/sign-in/verify", { email: state.email, challenge: state.challenge, code: $("code").value.replace(/\s/g, "") });
      state.token = r.token;
      status(msgs.signedIn);
      show("credential", "credential");
    } catch (e) { fail(e, "code"); }
  });

  // 2. The voting code: which contests it may answer.
  $("form-credential").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      await ready();
      status(msgs.checkingCredential);
      const code = $("credential").value;
      let pub;
      try { pub = call("credential", state.electionJSON, code).credential; } catch (e) {
        const h = new Error(msgs["err.credentialForm"]);
        h.human = true;
        throw h;
      }
      let r;
      try { r = await api("GET", "/credentials/" + encodeURIComponent(pub)); } catch (e) {
        if (e.status !== 404 && e.status !== 400) throw e;
        const h = new Error(msgs.credentialUnknown);
        h.human = true;
        throw h;
      }
      state.code = code;
      state.eligible = new Set(r.contests);
      for (const fs of document.querySelectorAll("fieldset.contest")) {
        fs.hidden = !state.eligible.has(fs.dataset.id);
        fs.disabled = fs.hidden;
        updateCount(fs);
      }
      status("");
      show("ballot");
    } catch (e) { fail(e); }
  });

  // 3. The ballot: the contests' rules as the voter fills it in.
  // A contest of one choice is a group of radio buttons, with a button
  // that clears the choice; one of several is checkboxes, the others
  // greyed out once the limit is reached, as the count under it says.
  function chosen(fs) {
    return Array.from(fs.querySelectorAll("input:checked")).map((i) => Number(i.value));
  }
  function updateCount(fs) {
    const max = Number(fs.dataset.max), n = chosen(fs).length;
    const boxes = fs.querySelectorAll("input[type=checkbox]");
    for (const box of boxes) {
      box.disabled = fs.hidden || (!box.checked && n >= max);
    }
    if (boxes.length) $("count-" + fs.dataset.contest).textContent = fmt(n >= max ? "chosenAll" : "chosen", n, max);
  }
  for (const fs of document.querySelectorAll("fieldset.contest")) {
    fs.addEventListener("change", () => updateCount(fs));
    const clear = $("clear-" + fs.dataset.contest);
    if (clear) {
      clear.addEventListener("click", () => {
        for (const i of fs.querySelectorAll("input:checked")) i.checked = false;
        $("count-" + fs.dataset.contest).textContent = msgs.cleared;
        updateCount(fs);
      });
      fs.addEventListener("change", () => { $("count-" + fs.dataset.contest).textContent = ""; });
    }
  }
  $("form-ballot").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const list = $("review-list");
    list.replaceChildren();
    for (const fs of document.querySelectorAll("fieldset.contest")) {
      if (fs.hidden) continue;
      const picks = chosen(fs), min = Number(fs.dataset.min);
      const title = fs.querySelector("legend").textContent;
      if (picks.length < min) {
        status(fmt("tooFew", title, min), true);
        fs.querySelector("input").focus();
        return;
      }
      // The question, then the answer on its own line: a question's own
      // punctuation is never followed by another.
      const li = document.createElement("li");
      const names = picks.map((o) => fs.querySelector("label[for=c" + fs.dataset.contest + "o" + o + "]").textContent);
      const q = document.createElement("span");
      q.className = "question";
      q.textContent = title;
      const a = document.createElement("strong");
      a.className = "answer";
      a.textContent = names.length ? names.join(", ") : msgs.blank;
      li.append(q, " ", a);
      list.appendChild(li);
    }
    encrypt();
  });
  function choices() {
    return Array.from(document.querySelectorAll("fieldset.contest")).map((fs) => (fs.hidden ? null : chosen(fs)));
  }

  // 4. Encrypt, show the ballot code, then cast or audit (spec §21).
  function encrypt(after) {
    status(msgs.encrypting);
    // Let the status paint before the module takes the thread.
    setTimeout(() => {
      try {
        const r = call("encrypt", state.electionJSON, state.code, JSON.stringify(choices()));
        state.encryption = r.id;
        $("ballot-code").textContent = group(r.code);
        status(typeof after === "string" ? after : "", typeof after === "string");
        show("review", "cast");
      } catch (e) { fail(e); }
    }, 20);
  }
  $("change").addEventListener("click", () => show("ballot"));
  $("cast").addEventListener("click", async () => {
    status(msgs.casting);
    try {
      const b = call("cast", String(state.encryption), state.electionJSON, state.code);
      let receipt;
      try {
        receipt = await api("POST", "/ballots", b.ballot, state.token);
      } catch (e) {
        // The encryption is spent (signed): a new one is ready to retry.
        encrypt(explain(e, "cast"));
        return;
      }
      // The receipt must prove that this very ballot is in the log.
      try {
        call("checkReceipt", state.electionJSON, b.ballot, JSON.stringify(receipt));
      } catch (e) {
        status(msgs.badReceipt, true);
        return;
      }
      $("receipt-tracker").textContent = group(receipt.tracker);
      $("receipt-code").textContent = group(receipt.code);
      $("receipt-index").textContent = String(receipt.index);
      $("receipt-check").href = base + "/ballots/" + receipt.tracker;
      state.receipt = receipt;
      status(msgs.cast);
      show("receipt", "receipt-title");
    } catch (e) { fail(e); }
  });
  $("audit").addEventListener("click", () => {
    try {
      const a = call("audit", String(state.encryption));
      $("audit-record").value = a.record;
      const check = call("checkAudit", state.electionJSON, a.record, JSON.stringify([...state.eligible]));
      $("audit-result").textContent = check.ok ? msgs.audited : msgs.auditFailed;
      $("audit-code").textContent = group(a.code);
      $("audit-choices").replaceChildren(...Array.from($("review-list").children).map((li) => li.cloneNode(true)));
      status("");
      show("audit", "audit-result");
      $("audit-result").setAttribute("tabindex", "-1");
      $("audit-result").focus();
    } catch (e) { fail(e); }
  });
  $("again").addEventListener("click", () => encrypt());
  $("audit-save").addEventListener("click", () => save("scrutin-audit.json", $("audit-record").value, "application/json"));

  // 5. The receipt.
  $("receipt-save").addEventListener("click", () => {
    const r = state.receipt;
    const text = [msgs.receiptTitle, "", "tracker: " + r.tracker, "code: " + r.code, "index: " + r.index,
      "election: " + state.election.fingerprint, "check: " + location.origin + base + "/ballots/" + r.tracker,
      "inclusion proof: " + r.inclusion_proof.join(" "), "", r.checkpoint].join("\n");
    save("scrutin-receipt-" + r.tracker.slice(0, 8) + ".txt", text, "text/plain");
  });

  function group(hex) { return hex.replace(/(.{4})(?=.)/g, "$1 "); }
  function save(name, text, type) {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(new Blob([text], { type }));
    a.download = name;
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }
})();
