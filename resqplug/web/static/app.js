// Live refresh of the overview, and confirmations. Everything is written with
// textContent, never as HTML.
(function () {
  "use strict";
  const root = document.body.dataset.root || "";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
  if (!document.getElementById("live")) { return; }
  let last = null;
  function set(id, value) { const el = document.getElementById(id); if (el) { el.textContent = value; } }
  function refresh() {
    fetch(root + "/api/overview", { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (data) {
        const now = Date.now();
        if (last) { set("rate", ((data.processed - last.processed) * 1000 / (now - last.at)).toFixed(1)); }
        last = { processed: data.processed, at: now };
        set("processed", data.processed); set("failed", data.failed);
        set("nworkers", data.workers.length);
        let pending = 0;
        const body = document.querySelector("#queues tbody");
        Object.keys(data.queues).forEach(function (name) {
          pending += data.queues[name];
          let row = Array.from(body.querySelectorAll("tr[data-queue]")).find(function (r) { return r.dataset.queue === name; });
          if (!row) {
            row = document.createElement("tr"); row.dataset.queue = name;
            const a = document.createElement("a"); a.href = root + "/queues/" + encodeURIComponent(name); a.textContent = name;
            const td = document.createElement("td"); td.appendChild(a);
            const size = document.createElement("td"); size.className = "num size";
            row.appendChild(td); row.appendChild(size); body.appendChild(row);
          }
          row.querySelector(".size").textContent = data.queues[name];
        });
        Array.from(body.querySelectorAll("tr")).forEach(function (row) {
          if (!(row.dataset.queue in data.queues)) { row.remove(); }
        });
        if (!body.querySelector("tr")) {
          const tr = document.createElement("tr"); const td = document.createElement("td");
          td.colSpan = 2; td.textContent = "No queues yet."; tr.appendChild(td); body.appendChild(tr);
        }
        set("pending", pending);
        const wbody = document.querySelector("#workers tbody");
        wbody.textContent = "";
        data.workers.forEach(function (w) {
          const tr = document.createElement("tr");
          [w.id, w.state, w.job].forEach(function (v, i) {
            const td = document.createElement("td"); td.textContent = v;
            if (i === 1) { td.className = "state " + v; }
            tr.appendChild(td);
          });
          wbody.appendChild(tr);
        });
      })
      .catch(function () {});
  }
  setInterval(refresh, 2000);
  refresh();
})();
