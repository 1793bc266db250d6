// The trustee page: scrutin's trustee module (scrutin-trustee.wasm, package
// internal/trustee compiled to WebAssembly) makes the identity, opens the
// keystore file, verifies the election's log and makes each message; this
// script only drives the page, the downloads and the network. Nothing
// secret is stored by the page: the keystore is a file the trustee keeps,
// encrypted under the passphrase. localStorage keeps only public things: the
// last checkpoint verified (the log must extend it) and a dealing made but
// perhaps not yet recorded (dealing twice would be equivocation).
"use strict";
(function () {
  const root = document.getElementById("trustee");
  if (!root) return;
  const msgs = JSON.parse(root.dataset.msgs);
  const $ = (id) => document.getElementById(id);
  const fmt = (key, ...args) => (msgs[key] || key).replace(/%(\d)/g, (_, i) => String(args[i - 1]));
  const lang = document.documentElement.lang || "en";
  const wf = root.dataset.workFactor || "0";
  const logURL = location.origin + root.dataset.log;
  const api = root.dataset.api;
  const stored = "scrutin-trustee:" + root.dataset.log + ":";
  const invite = (/(?:^#|&)invite=([A-Za-z0-9_-]+)/.exec(location.hash) || [])[1];
  let timer = null;
  let busy = false;
  let trusteeName = "";
  let self = 0; // the trustee's number on the roster, once read

  const status = (text) => { $("trustee-status").textContent = text; };
  const showError = (text) => {
    const e = $("trustee-error");
    e.textContent = text;
    e.hidden = !text;
  };
  // frame lets the page show a message before a long computation (the
  // module runs on the page's thread); a timer, not an animation frame,
  // so that a page left in the background still goes on.
  const frame = () => new Promise((r) => setTimeout(r, 30));
  const toBase64 = (bytes) => {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    return btoa(s);
  };
  const fromBase64 = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const group = (hex) => hex.replace(/(.{4})(?=.)/g, "$1 ");
  const text = (t) => (t && (t[lang] || t.en)) || "";
  const offer = (a, bytes, name, type) => {
    if (a.href.startsWith("blob:")) URL.revokeObjectURL(a.href);
    a.href = URL.createObjectURL(new Blob([bytes], { type }));
    a.download = name;
  };
  const fileName = (name) => "scrutin-trustee-" + (name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "keystore") + ".age";
  const li = (list, t) => { const e = document.createElement("li"); e.textContent = t; list.appendChild(e); return e; };

  window.scrutinReady = () => {
    $("create-go").disabled = false;
    $("open-go").disabled = false;
    status(msgs.ready);
  };
  const go = new Go();
  WebAssembly.instantiateStreaming(fetch(root.dataset.wasm), go.importObject)
    .then((m) => go.run(m.instance), () => status(msgs.loadFailed));

  // 1. The identity.
  $("form-create").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("");
    const name = $("trustee-name").value.trim();
    const pass = $("trustee-pass").value;
    if ([...pass].length < 12) return showError(msgs.passShort);
    if (pass !== $("trustee-pass2").value) return showError(msgs.passDiffer);
    $("create-go").disabled = true;
    status(msgs.making);
    await frame();
    const r = JSON.parse(window.scrutin.trusteeCreate(name, pass, wf));
    $("create-go").disabled = false;
    status("");
    if (r.error) return showError(fmt("failed", r.error));
    $("trustee-pass").value = $("trustee-pass2").value = "";
    offer($("download-keystore"), fromBase64(r.keystore), fileName(r.name), "application/octet-stream");
    offer($("download-identity"), r.identity, "identity.json", "application/json");
    $("created").hidden = false;
    $("created-text").focus();
    $("download-keystore").click();
    $("identity-fingerprint").textContent = fmt("ownFingerprint", group(r.fingerprint));
    if (invite) sendIdentity(r.identity, r.fingerprint);
  });

  // sendIdentity sends the public identity with the invitation. The
  // fingerprint shown is own, computed by the module from the identity
  // made; the server's answer is only compared with it: a server that
  // received or stored another identity is caught here.
  async function sendIdentity(identity, own) {
    const out = $("invite-result");
    out.hidden = false;
    out.className = "";
    out.textContent = msgs.inviteSending;
    try {
      const resp = await fetch(api + "/trustee-identities", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ invitation: invite, identity: JSON.parse(identity) }),
      });
      const body = await resp.json().catch(() => ({}));
      if (resp.status === 201 && body.fingerprint === own) {
        out.className = "ok";
        out.textContent = fmt("inviteSent", group(own));
      } else if (resp.status === 201) {
        out.className = "error";
        out.textContent = fmt("inviteMismatch", group(String(body.fingerprint || "")), group(own));
      } else if (resp.status === 404) {
        out.className = "error";
        out.textContent = msgs.inviteUnavailable;
      } else {
        out.className = "error";
        out.textContent = fmt("inviteFailed", body.error || resp.status);
      }
    } catch (e) {
      out.className = "error";
      out.textContent = fmt("inviteFailed", String(e));
    }
  }

  // 2. The steps.
  $("form-open").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("");
    const file = $("keystore-file").files[0];
    if (!file) return showError(msgs.noFile);
    const data = new Uint8Array(await file.arrayBuffer());
    $("open-go").disabled = true;
    status(msgs.opening);
    await frame();
    const r = JSON.parse(window.scrutin.trusteeOpen(toBase64(data), $("open-pass").value, wf));
    $("open-go").disabled = false;
    if (r.error) {
      status("");
      if (r.error === "wrong passphrase") return showError(msgs.wrongPass);
      return showError(fmt("notKeystore", r.error));
    }
    $("open-pass").value = "";
    trusteeName = r.name;
    $("create").hidden = true;
    status(fmt("opened", r.name));
    $("step").hidden = false;
    refresh();
  });

  $("step-again").addEventListener("click", () => refresh());
  $("decrypt-yes").addEventListener("click", () => act("decrypt"));

  const later = (ms) => { clearTimeout(timer); timer = setTimeout(refresh, ms); };

  async function refresh() {
    if (busy) return;
    busy = true;
    clearTimeout(timer);
    try {
      await step();
    } finally {
      busy = false;
    }
  }

  async function step() {
    status(msgs.reading);
    const fp = $("open-fingerprint").value.replace(/\s/g, "").toLowerCase();
    const previous = localStorage.getItem(stored + "checkpoint") || "";
    const s = JSON.parse(await window.scrutin.trusteeStep(logURL, fp, previous));
    status("");
    if (s.error) {
      if (s.no_manifest) { show(msgs.noManifest, "", true); return later(10000); }
      if (s.unreachable) { show(fmt("unreachable", s.error), "", true); return later(5000); }
      if (s.not_on_roster) return show("", fmt("notOnRoster", s.error), true);
      if (s.fork) return show("", fmt("fork", s.error), false);
      return show("", fmt("invalid", s.error), true);
    }
    if (s.checkpoint) localStorage.setItem(stored + "checkpoint", s.checkpoint);
    self = s.self;
    render(s);
    if (s.next && s.next !== "decrypt") return act(s.next);
    if (["dealings", "checks", "confirmations"].includes(s.wait)) later(3000);
  }

  // show says what the page waits for, or an error, with nothing else;
  // again offers to read the record again.
  function show(title, error, again) {
    $("step-title").textContent = title;
    for (const id of ["step-election", "step-text"]) $(id).textContent = "";
    for (const id of ["step-waiting", "step-plan", "step-faults-list", "decrypt-what"]) $(id).replaceChildren();
    $("step-faults").hidden = $("decrypt").hidden = true;
    $("step-again").hidden = !again;
    showError(error);
  }

  function render(s) {
    show("", "", false);
    $("step-election").textContent = fmt("election", text(s.title), group(s.fingerprint), s.self, s.name, s.trustees.length, s.threshold);
    // What is done, now, and left.
    const plan = $("step-plan");
    const order = ["deal", "check", "finish", "decrypt"];
    const waitStep = { dealings: "check", checks: "finish", confirmations: "decrypt", voting: "decrypt" };
    let now = s.next || waitStep[s.wait] || (s.wait === "decryptions" || s.done === "decided" ? "end" : "");
    for (const o of order) {
      const i = order.indexOf(o), n = now === "end" ? order.length : order.indexOf(now);
      const state = n < 0 ? "" : i < n ? msgs["plan.done"] : i === n ? msgs["plan.now"] : msgs["plan.later"];
      li(plan, msgs["plan." + o] + (state ? " — " + state : ""));
    }
    if (s.faults.length) {
      $("step-faults").hidden = false;
      for (const f of s.faults) li($("step-faults-list"), fmt(f.disqualified ? "faultExcluded" : "fault", f.trustee, f.name, f.reason));
    }
    const waitingList = (names) => { if (names.length) li($("step-waiting"), fmt("waitingFor", names.join(", "))); };
    if (s.next === "decrypt") {
      $("step-title").textContent = msgs["do.decrypt"];
      $("step-text").textContent = msgs.decryptText;
      const what = $("decrypt-what");
      li(what, fmt("decryptCounted", s.counted_ballots, s.ballots, s.voters));
      for (const c of s.contests) li(what, fmt("decryptContest", text(c.title), c.options));
      $("decrypt").hidden = false;
      $("step-title").focus();
    } else if (s.next) {
      $("step-title").textContent = msgs["do." + s.next];
      $("step-text").textContent = msgs["doing." + s.next];
    } else if (s.wait === "voting") {
      $("step-title").textContent = msgs["wait.voting"];
      $("step-text").textContent = msgs.votingText;
      $("step-again").hidden = false;
    } else if (s.wait === "decryptions") {
      $("step-title").textContent = msgs["wait.decryptions"];
      $("step-text").textContent = fmt("decryptionsText", s.decrypted.length, s.threshold);
      if (s.waiting.length) li($("step-waiting"), fmt("decryptionsWaiting", s.waiting.join(", ")));
      $("step-again").hidden = false;
    } else if (s.wait) {
      $("step-title").textContent = msgs["wait." + s.wait];
      waitingList(s.waiting);
    } else if (s.done === "decided") {
      $("step-title").textContent = msgs.decided;
    } else if (s.done === "failed") {
      $("step-title").textContent = fmt("failedCeremony", s.failure);
    } else if (s.done === "left-out") {
      $("step-title").textContent = msgs.leftOut;
    }
  }

  // act makes the message of the step due and posts it.
  async function act(what) {
    status(msgs["doing." + what]);
    $("decrypt-yes").disabled = true;
    await frame();
    const dealKey = stored + "dealing:" + self;
    // The dealing is read, made if there is none, and kept under a lock
    // that every tab of this origin takes: of two tabs of one trustee, the
    // second waits and sends the first one's dealing.
    const make = () => {
      const r = JSON.parse(window.scrutin.trusteeAct(what, what === "deal" ? localStorage.getItem(dealKey) || "" : ""));
      // The dealing is kept before it is sent: if the answer is lost, the
      // same dealing is sent again, never a second one.
      if (what === "deal" && !r.error) localStorage.setItem(dealKey, r.message);
      return r;
    };
    const r = what === "deal" && navigator.locks ? await navigator.locks.request("scrutin-trustee-deal:" + root.dataset.log, make) : make();
    const fail = (text) => {
      status("");
      showError(text);
      $("decrypt-yes").disabled = false;
      $("step-again").hidden = false;
    };
    if (r.error) return fail(fmt("failed", r.error));
    if (r.keystore) {
      const a = $("download-updated");
      offer(a, fromBase64(r.keystore), fileName(trusteeName), "application/octet-stream");
      $("step-keystore").hidden = false;
      a.click(); // the browser may ask first, or refuse: the button stays
    }
    let resp, body;
    try {
      resp = await fetch(api + "/" + r.api, { method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: fromBase64(r.message) });
      body = await resp.json().catch(() => ({}));
    } catch (e) {
      return fail(fmt("postFailed", String(e)));
    }
    if (resp.status !== 201 && resp.status !== 200) return fail(fmt("postFailed", body.error || resp.status));
    $("decrypt-yes").disabled = false;
    status(fmt("sent", body.index));
    busy = false;
    await refresh();
  }
})();
