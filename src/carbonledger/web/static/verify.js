// The in-browser half of "verify": check a record's RFC 6962 inclusion proof with WebCrypto.
// leaf = SHA-256(0x00 || item bytes); node = SHA-256(0x01 || left || right); the path is
// followed as in RFC 9162 section 2.1.3.2 (carbonledger.core.merkle.root_from_inclusion_proof).
// The checkpoint's signature (secp256k1) is checked by the server, shown beside it.
"use strict";
(function () {
  const box = document.getElementById("verify");
  if (!box) return;
  const button = document.getElementById("verify-button");
  const inBrowser = document.getElementById("verify-browser");
  const onServer = document.getElementById("verify-server");
  const record = box.dataset.record;

  const toHex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  function fromHex(text) {
    if (typeof text !== "string" || !/^([0-9a-fA-F]{2})*$/.test(text)) throw new Error("a hash is not hex");
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }
  async function sha256(...parts) {
    const size = parts.reduce((n, p) => n + p.length, 0);
    const all = new Uint8Array(size);
    let at = 0;
    for (const p of parts) { all.set(p, at); at += p.length; }
    return new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  }
  const leafHash = (data) => sha256(Uint8Array.of(0), data);
  const nodeHash = (left, right) => sha256(Uint8Array.of(1), left, right);
  const half = (n) => Math.floor(n / 2);  // arithmetic, not >>: sizes may pass 2**31

  async function rootFromProof(leaf, index, size, path) {
    if (!(index >= 0 && index < size)) throw new Error(`leaf ${index} is not in a tree of ${size}`);
    let fn = index, sn = size - 1, r = leaf;
    for (const p of path) {
      if (p.length !== 32) throw new Error("a path hash is not 32 bytes");
      if (sn === 0) throw new Error("the proof is longer than the tree is deep");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn !== 0 && fn % 2 === 0) { fn = half(fn); sn = half(sn); }
      } else {
        r = await nodeHash(r, p);
      }
      fn = half(fn); sn = half(sn);
    }
    if (sn !== 0) throw new Error("the proof is shorter than the tree is deep");
    return r;
  }

  function show(el, ok, text) {
    el.textContent = text;
    el.className = "result " + (ok ? "ok" : "bad");
    el.dataset.ok = ok ? "true" : "false";
  }

  async function checkInBrowser() {
    if (!window.crypto || !crypto.subtle) {
      throw new Error("this browser offers no WebCrypto here (it needs https or localhost)");
    }
    const response = await fetch(`/api/v1/records/${encodeURIComponent(record)}/proof`, { credentials: "same-origin" });
    if (!response.ok) throw new Error(`the proof could not be fetched (HTTP ${response.status})`);
    const doc = await response.json();
    const cp = doc.checkpoint;
    if (doc.tree_size !== cp.size) throw new Error("the proof's tree size is not the checkpoint's");
    const leaf = await leafHash(new TextEncoder().encode(doc.item));
    const root = await rootFromProof(leaf, doc.leaf_index, doc.tree_size, doc.path.map(fromHex));
    const got = toHex(root);
    if (got !== cp.root.toLowerCase()) {
      return [false, `FAILED: the path leads to ${got.slice(0, 16)}…, not the checkpoint root ${cp.root.slice(0, 16)}…`];
    }
    return [true, `OK: leaf ${doc.leaf_index} of ${doc.tree_size}, ${doc.path.length} hashes, leads to the checkpoint root ${got.slice(0, 16)}… (checked in your browser)`];
  }

  async function checkOnServer() {
    const response = await fetch(`/records/${encodeURIComponent(record)}/check`, { credentials: "same-origin" });
    const result = await response.json();
    return [result.ok === true, (result.ok ? "OK: " : "FAILED: ") + result.detail + ` (checkpoint of ${result.tree_size} leaves, checked by the server)`];
  }

  button.addEventListener("click", async () => {
    button.disabled = true;
    inBrowser.textContent = "Checking…";
    onServer.textContent = "";
    try {
      show(inBrowser, ...(await checkInBrowser()));
    } catch (err) {
      show(inBrowser, false, "FAILED: " + err.message);
    }
    try {
      show(onServer, ...(await checkOnServer()));
    } catch (err) {
      show(onServer, false, "Server check unavailable: " + err.message);
    }
    button.disabled = false;
  });
})();
