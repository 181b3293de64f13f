// The campaign form shows the parts its choices use: the fixed prices or the bid floor, and the
// chosen delivery's fields (the ping only for bid pricing). Without this script every part shows;
// the server reads only the chosen ones either way.
(function () {
  "use strict";
  var model = document.getElementById("f-pricing.model");
  var kind = document.getElementById("f-delivery.kind");
  function shown(id, visible) {
    var part = document.getElementById(id);
    if (part) { part.hidden = !visible; }
  }
  function update() {
    var bid = model && model.value === "bid";
    var by = kind ? kind.value : "json";
    shown("pricing-fixed", !bid);
    shown("pricing-bid", bid);
    shown("delivery-http", by === "http");
    shown("delivery-ping", by === "http" && bid);
    shown("delivery-email", by === "email");
    shown("delivery-json", by === "json");
  }
  if (model) { model.addEventListener("change", update); }
  if (kind) { kind.addEventListener("change", update); }
  update();
})();
