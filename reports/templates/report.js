(function () {
  "use strict";
  function cellValue(row, i) {
    var td = row.cells[i];
    var v = td.getAttribute("data-v");
    if (v !== null) { return v === "" ? -Infinity : parseFloat(v); }
    return td.textContent.toLowerCase();
  }
  document.querySelectorAll("table").forEach(function (table) {
    table.querySelectorAll("th").forEach(function (th, i) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = cellValue(a, i), y = cellValue(b, i);
          if (x < y) { return asc ? -1 : 1; }
          if (x > y) { return asc ? 1 : -1; }
          return 0;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  function applyFilter(select) {
    var section = document.getElementById(select.getAttribute("data-target"));
    var shown = 0, total = 0;
    section.querySelectorAll("tbody tr").forEach(function (tr) {
      var keep = !select.value || tr.getAttribute("data-model") === select.value;
      tr.hidden = !keep;
      total += 1; shown += keep ? 1 : 0;
    });
    section.querySelector(".count").textContent = shown + " of " + total + " rows";
  }
  document.querySelectorAll("select.model-filter").forEach(function (select) {
    select.addEventListener("change", function () { applyFilter(select); });
    applyFilter(select);
  });
})();
