// Passkeys (WebAuthn) for staff: registering one, and signing in with one.
// The server's options and the authenticator's answers are JSON, with
// binary fields in base64url.
"use strict";
(function () {
  // Recovery codes: printed alone (style.css prints only the sheet), or
  // saved as a text file.
  const sheet = document.getElementById("codes-sheet");
  if (sheet) {
    sheet.querySelector(".codes-actions").hidden = false;
    document.getElementById("print-codes").addEventListener("click", () => window.print());
    document.getElementById("download-codes").addEventListener("click", () => {
      const codes = Array.from(sheet.querySelectorAll(".codes code"), (c) => c.textContent);
      const text = sheet.dataset.heading + "\n\n" + codes.join("\n") + "\n";
      const a = document.createElement("a");
      a.href = URL.createObjectURL(new Blob([text], { type: "text/plain;charset=utf-8" }));
      a.download = sheet.dataset.file;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    });
  }
  const root = document.getElementById("passkey");
  const button = document.getElementById("passkey-button");
  if (!root || !button) return;
  const status = document.getElementById("passkey-status");
  const failed = root.dataset.msgs;
  const b64u = {
    decode: (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(s.length / 4) * 4, "=")), (c) => c.charCodeAt(0)).buffer,
    encode: (b) => btoa(String.fromCharCode(...new Uint8Array(b))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""),
  };
  async function post(step, body) {
    const r = await fetch("/staff/passkey/" + step, { method: "POST", headers: { "Content-Type": "application/json" }, body: body ? JSON.stringify(body) : "{}" });
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }
  button.addEventListener("click", async () => {
    status.textContent = "";
    try {
      if (root.dataset.mode === "register") {
        const o = (await post("register")).publicKey;
        o.challenge = b64u.decode(o.challenge);
        o.user.id = b64u.decode(o.user.id);
        (o.excludeCredentials || []).forEach((c) => { c.id = b64u.decode(c.id); });
        const cred = await navigator.credentials.create({ publicKey: o });
        const r = await post("register-finish", {
          id: cred.id, rawId: b64u.encode(cred.rawId), type: cred.type,
          response: { clientDataJSON: b64u.encode(cred.response.clientDataJSON), attestationObject: b64u.encode(cred.response.attestationObject) },
        });
        if (r.recovery && r.recovery.length) {
          const ul = document.getElementById("passkey-codes");
          r.recovery.forEach((c) => { const li = document.createElement("li"); const code = document.createElement("code"); code.textContent = c; li.appendChild(code); ul.appendChild(li); });
          // Enrolled: the forms give way to the codes.
          document.getElementById("enrol-forms").hidden = true;
          const rec = document.getElementById("passkey-recovery");
          rec.hidden = false;
          rec.querySelector("h2").tabIndex = -1;
          rec.querySelector("h2").focus();
        } else {
          location.href = "/console";
        }
      } else {
        const o = (await post("login")).publicKey;
        o.challenge = b64u.decode(o.challenge);
        (o.allowCredentials || []).forEach((c) => { c.id = b64u.decode(c.id); });
        const a = await navigator.credentials.get({ publicKey: o });
        await post("login-finish", {
          id: a.id, rawId: b64u.encode(a.rawId), type: a.type,
          response: { clientDataJSON: b64u.encode(a.response.clientDataJSON), authenticatorData: b64u.encode(a.response.authenticatorData),
            signature: b64u.encode(a.response.signature), userHandle: a.response.userHandle ? b64u.encode(a.response.userHandle) : null },
        });
        // Where the page was asked to lead once signed in (checked by the
        // server when it wrote the page), else the console.
        const next = document.querySelector('input[name="next"]');
        location.href = next && next.value ? next.value : "/console";
      }
    } catch (e) {
      status.textContent = failed + " " + (e && e.message ? e.message : e);
    }
  });
})();
