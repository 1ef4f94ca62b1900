// Progressive enhancement only: every form works without this file.
"use strict";

// Drag and drop onto the upload zone fills the file input.
function setUpDrop() {
  const zone = document.getElementById("drop");
  if (!zone) return;
  const input = document.getElementById(zone.dataset.dropTarget);
  const help = document.getElementById("sheet-help");
  const show = () => {
    if (input.files.length) help.textContent = "Chosen: " + input.files[0].name;
  };
  input.addEventListener("change", show);
  ["dragenter", "dragover"].forEach((name) =>
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    })
  );
  ["dragleave", "drop"].forEach((name) =>
    zone.addEventListener(name, () => zone.classList.remove("over"))
  );
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      show();
    }
  });
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const minutes = Math.round(seconds / 60);
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return "about " + minutes + " min";
  return "about " + Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min";
}

// What the run shares its account with (the same words as run.html).
function sharingText(data) {
  const sharing = data.sharing;
  if (!sharing || data.state !== "running" || !sharing.others) return "";
  const others = sharing.others + " other run" + (sharing.others === 1 ? "" : "s");
  const text = sharing.waiting
    ? "Waiting for its turn (sharing the account with " + others + ")"
    : "Sharing the account with " + others;
  const share = sharing.share === null ? "" : ": " + Math.round(sharing.share * 100) + "% of its budget";
  return text + share + ".";
}

// The run page follows the run: server-sent events, or polling when they fail.
function setUpRun() {
  const section = document.getElementById("run");
  if (!section || !["running", "stopping"].includes(section.dataset.state)) return;
  const bar = document.getElementById("bar");
  const state = document.getElementById("run-state");
  let ended = false;

  function show(data) {
    bar.max = Math.max(data.total, 1);
    bar.value = data.done;
    bar.textContent = data.done + " of " + data.total;
    document.getElementById("done").textContent = data.done;
    document.getElementById("total").textContent = data.total;
    // Rows a stop left unsent are said apart: the bar shows only the rows done.
    document.getElementById("unsent").textContent = data.not_sent
      ? ", " + data.not_sent + " not sent" + (data.state === "stopping" || data.stopped ? ": stopped" : "")
      : "";
    document.getElementById("eta").textContent =
      data.state === "running" && data.seconds_left !== null ? ", " + duration(data.seconds_left) + " left" : "";
    // A status region: rewritten only when its sentence changes, so that a screen reader
    // says "waiting for its turn" once, not every second.
    const sharing = document.getElementById("sharing");
    const said = sharingText(data);
    if (sharing.textContent !== said) sharing.textContent = said;
    const counts = document.getElementById("counts");
    counts.replaceChildren(
      ...Object.entries(data.counts).map(([status, count]) => {
        const item = document.createElement("li");
        item.className = "st-" + status.replace(/ /g, "-");
        const number = document.createElement("span");
        number.className = "n";
        number.textContent = count;
        item.append(number, " " + status);
        return item;
      })
    );
    const messages = document.getElementById("messages");
    messages.replaceChildren(
      ...data.messages.map((text) => {
        const item = document.createElement("li");
        item.textContent = text;
        return item;
      })
    );
    if (data.state === "stopping") state.textContent = "Stopping";
    if ((data.state === "finished" || data.state === "failed") && !ended) {
      ended = true;
      // The server renders the finished page (result link, final counts).
      window.setTimeout(() => window.location.reload(), 300);
    }
  }

  function poll() {
    fetch(section.dataset.status, { credentials: "same-origin" })
      .then((response) => response.json())
      .then((data) => {
        show(data);
        if (!ended) window.setTimeout(poll, 1000);
      })
      .catch(() => window.setTimeout(poll, 3000));
  }

  if (window.EventSource) {
    const source = new EventSource(section.dataset.events);
    source.addEventListener("progress", (event) => show(JSON.parse(event.data)));
    source.onerror = () => {
      source.close();
      if (!ended) poll();
    };
  } else {
    poll();
  }
}

// A problem cell corrected where it is shown: Enter (or leaving the field) sends the new
// value; the server checks the sheet again, and the page's sheet, counts and buttons are
// replaced by the new ones, focus going to the next problem (as Tab would). Without this
// script, Enter posts the cell's own form and the server sends the page back.
function setUpFixes() {
  const main = document.querySelector("main");
  if (!main) return;
  let busy = false;

  function keyOf(input) {
    const form = input.form;
    return form.elements.row.value + "\u001f" + form.elements.column.value;
  }

  function send(form) {
    const input = form.elements.value;
    if (busy || input.value === input.dataset.was || input.value === input.dataset.sent) return;
    busy = true;
    input.dataset.sent = input.value;
    const before = Array.from(main.querySelectorAll("input.cell")).map(keyOf);
    const at = before.indexOf(keyOf(input));
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then((response) => response.json().then((data) => ({ response, data })))
      .then(({ response, data }) => {
        if (!response.ok) {
          const said = document.getElementById(input.getAttribute("aria-describedby"));
          if (said) said.textContent = data.said;
          input.dataset.sent = "";
          busy = false;
          input.focus();
          return null;
        }
        return fetch(window.location.href, { credentials: "same-origin" })
          .then((page) => page.text())
          .then((html) => {
            const fresh = new DOMParser().parseFromString(html, "text/html").querySelector("main");
            if (fresh) main.replaceChildren(...fresh.childNodes);
            const now = Array.from(main.querySelectorAll("input.cell"));
            const keys = now.map(keyOf);
            const next =
              before.slice(at + 1).map((key) => now[keys.indexOf(key)]).find(Boolean) ||
              now.find((candidate) => keys.indexOf(keyOf(candidate)) >= 0) ||
              main.querySelector("button[value=import]");
            const status = document.getElementById("fix-status");
            if (status) status.textContent = "Row " + input.form.elements.row.value + " checked again.";
            busy = false;
            if (next) next.focus();
          });
      })
      .catch(() => {
        busy = false;
        form.submit(); // the page without the script's help
      });
  }

  main.addEventListener("submit", (event) => {
    const form = event.target;
    if (!form.classList || !form.classList.contains("fix")) return;
    event.preventDefault();
    send(form);
  });
  main.addEventListener("change", (event) => {
    const input = event.target;
    if (input.classList && input.classList.contains("cell")) send(input.form);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  setUpDrop();
  setUpRun();
  setUpFixes();
});
