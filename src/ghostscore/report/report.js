(function () {
  "use strict";
  var detail = document.getElementById("detail");
  function groups(el) {
    return (el.getAttribute("data-pair") || "").split(" ").filter(function (g) { return g; });
  }
  function setPair(el, on) {
    groups(el).forEach(function (g) {
      document.querySelectorAll('[data-pair~="' + g + '"]').forEach(function (x) {
        x.classList.toggle("pair-on", on);
      });
    });
  }
  function show(el) {
    if (detail) { detail.textContent = el.getAttribute("title") || ""; }
  }
  document.querySelectorAll(".doc .mk").forEach(function (el) {
    el.addEventListener("focus", function () { setPair(el, true); show(el); });
    el.addEventListener("blur", function () { setPair(el, false); });
    el.addEventListener("mouseenter", function () { setPair(el, true); show(el); });
    el.addEventListener("mouseleave", function () { setPair(el, false); });
  });
  document.documentElement.classList.add("js");
})();
