// The live flow: every few seconds, fetch the newest leads and counts and swap them in.
(function () {
  "use strict";
  var holder = document.getElementById("flow");
  if (!holder) { return; }
  var url = holder.getAttribute("data-rows");
  var note = document.getElementById("flow-refresh");
  function refresh() {
    fetch(url, { headers: { "X-Console-Fetch": "1" }, credentials: "same-origin" })
      .then(function (answer) {
        if (answer.status === 401) { window.location.assign("/console/sign-in"); return null; }
        if (!answer.ok) { throw new Error("HTTP " + answer.status); }
        return answer.text();
      })
      .then(function (html) {
        if (html === null) { return; }
        holder.innerHTML = html;
        note.textContent = "Refreshes every 5 seconds.";
        setTimeout(refresh, 5000);
      })
      .catch(function (error) {
        note.textContent = "Could not refresh (" + error.message + "): trying again.";
        setTimeout(refresh, 10000);
      });
  }
  setTimeout(refresh, 5000);
})();
