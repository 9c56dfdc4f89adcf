// The studio page: one request at a time to /api/, results as cards side by side.
"use strict";

const $ = (id) => document.getElementById(id);
const kept = [];
let busy = false;

function token() {
  return new URLSearchParams(location.search).get("token");
}

function withToken(url) {
  const t = token();
  return t ? url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(t) : url;
}

async function call(path, options) {
  const headers = Object.assign({}, (options && options.headers) || {});
  if (token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    const detail = Array.isArray(body.detail)
      ? body.detail.map((d) => d.msg).join("; ") : body.detail;
    throw new Error(detail || "request failed (" + response.status + ")");
  }
  return body;
}

function working(text) {
  busy = true;
  const started = Date.now();
  document.querySelectorAll("button").forEach((b) => (b.disabled = true));
  const status = $("status");
  status.className = "";
  const tick = () => {
    if (!busy) return;
    status.textContent = text + " (" + Math.round((Date.now() - started) / 1000) + " s)";
    setTimeout(tick, 500);
  };
  tick();
}

function done(message, isError) {
  busy = false;
  document.querySelectorAll("button").forEach((b) => (b.disabled = false));
  $("status").textContent = message || "";
  $("status").className = isError ? "error" : "";
}

function numberOrNull(id) {
  const value = $(id).value.trim();
  return value === "" ? null : Number(value);
}

function card(result, item, container, label) {
  const div = document.createElement("div");
  div.className = "card";
  div.dataset.ref = result.id + ":" + item.index;
  const score = item.scores ? '<span class="score">score ' + item.scores.score.toFixed(3) + "</span>" : "";
  const badges = Object.entries(item.compliance || {})
    .map(([name, ok]) => '<span class="' + (ok ? "ok" : "no") + '">' + name + (ok ? " ✓" : " ✗") + "</span>")
    .join("");
  div.innerHTML =
    "<h3>" + label + score + "</h3>" +
    (item.wav ? '<audio controls preload="metadata" src="' + withToken(item.wav) + '"></audio>' : "") +
    (item.roll ? '<img alt="piano roll of ' + label + '" src="' + withToken(item.roll) + '">' : "") +
    '<div class="badges">' + badges + "</div>" +
    '<p class="meta">' + item.notes + " notes, " + item.seconds.toFixed(1) + " s" +
    (item.seed !== null && item.seed !== undefined ? ", seed " + item.seed : "") + "</p>" +
    '<div class="actions"><a class="download" download href="' + withToken(item.midi) + '">Download MIDI</a>' +
    '<button class="secondary more" type="button">More like this</button>' +
    '<button class="secondary keep" type="button">Keep</button></div>';
  div.querySelector(".more").addEventListener("click", () => vary(result.id, item.index));
  div.querySelector(".keep").addEventListener("click", () => keep(div, result, item, label));
  container.appendChild(div);
  return div;
}

function show(result, title) {
  const container = $("results");
  container.innerHTML = "";
  $("summary").textContent = (result.summary ? result.summary + " — " : "") +
    "bundle " + result.bundle + (result.synth ? ", audio by " + result.synth : "");
  result.items.forEach((item, i) => card(result, item, container, title + " " + (i + 1)));
}

async function compose() {
  if (busy) return;
  const body = {
    prompt: $("prompt").value,
    bundle: $("bundle").value || null,
    key: $("key").value.trim() || null,
    qpm: numberOrNull("qpm"),
    bars: numberOrNull("bars"),
    variations: numberOrNull("variations"),
  };
  const temperature = numberOrNull("temperature");
  working("composing");
  try {
    const result = await call("/api/compose", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(Object.assign(body, temperature ? { temperature: temperature } : {})),
    });
    show(result, "Variation");
    done(result.items.length + " variations, best first");
  } catch (error) {
    done(error.message, true);
  }
}

async function vary(resultId, index) {
  if (busy) return;
  working("making more like it");
  try {
    const result = await call("/api/vary", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ result_id: resultId, index: index, variations: 2 }),
    });
    show(result, "More like it");
    done("2 more like it");
  } catch (error) {
    done(error.message, true);
  }
}

function keep(div, result, item, label) {
  const ref = result.id + ":" + item.index;
  if (kept.some((k) => k.ref === ref)) return;
  div.classList.add("kept");
  kept.push({ ref: ref, label: label });
  $("kept-area").hidden = false;
  const chip = document.createElement("span");
  chip.className = "badges";
  chip.innerHTML = "<span>" + label + "</span>";
  $("kept").appendChild(chip);
}

async function interpolate() {
  if (busy) return;
  if (kept.length < 2) {
    done("keep two pieces first", true);
    return;
  }
  const form = new FormData();
  form.append("first_ref", kept[0].ref);
  form.append("second_ref", kept[1].ref);
  form.append("num_outputs", "5");
  working("interpolating");
  try {
    const result = await call("/api/interpolate", { method: "POST", body: form });
    $("path").hidden = false;
    const slider = $("slider");
    slider.max = String(result.items.length - 1);
    const draw = () => {
      $("path-card").innerHTML = "";
      card(result, result.items[Number(slider.value)], $("path-card"), "Point " + (Number(slider.value) + 1));
    };
    slider.oninput = draw;
    slider.value = "0";
    draw();
    done("the path between " + kept[0].label + " and " + kept[1].label);
  } catch (error) {
    done(error.message, true);
  }
}

async function fromFile(harmonize) {
  if (busy) return;
  const file = $("upload").files[0];
  if (!file) {
    done("choose a MIDI file first", true);
    return;
  }
  const form = new FormData();
  form.append("midi", file);
  form.append("harmonize", harmonize ? "true" : "false");
  form.append("bundle", harmonize ? "chorale_transformer" : ($("bundle").value || "lookback_rnn"));
  const bars = numberOrNull("bars");
  if (bars) form.append("bars", String(bars));
  working(harmonize ? "harmonizing" : "continuing");
  try {
    const result = await call("/api/continue", { method: "POST", body: form });
    show(result, harmonize ? "Harmonization" : "Continuation");
    done(result.items.length + " results");
  } catch (error) {
    done(error.message, true);
  }
}

async function loadBundles() {
  try {
    const found = await call("/api/bundles");
    const select = $("bundle");
    found.forEach((b) => {
      const option = document.createElement("option");
      option.value = b.name;
      option.textContent = b.name + " — " + b.family;
      select.appendChild(option);
    });
  } catch (error) {
    done("cannot list bundles: " + error.message, true);
  }
}

$("compose").addEventListener("click", compose);
$("prompt").addEventListener("keydown", (e) => { if (e.key === "Enter") compose(); });
$("interpolate").addEventListener("click", interpolate);
$("continue").addEventListener("click", () => fromFile(false));
$("harmonize").addEventListener("click", () => fromFile(true));
loadBundles();
