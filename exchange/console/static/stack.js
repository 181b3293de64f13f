// Tables marked `stack` read as one card per row on a phone (console.css): each cell is given its
// column's name to show beside its value. Without this script they scroll sideways instead.
(function () {
  "use strict";
  var tables = document.querySelectorAll("table.stack:not(.labelled)");
  Array.prototype.forEach.call(tables, function (table) {
    var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    Array.prototype.forEach.call(table.querySelectorAll("tbody tr, tfoot tr"), function (row) {
      var column = 0;
      Array.prototype.forEach.call(row.cells, function (cell) {
        if (cell.colSpan === 1 && names[column] && !cell.hasAttribute("data-label")) {
          cell.setAttribute("data-label", names[column]);
        }
        column += cell.colSpan;
      });
    });
    table.classList.add("labelled");
  });
})();
