// 登记失信记录: show the fields of the chosen subject type only (a unit, or a civil servant). Without this script
// both groups stay visible and the labels say which to fill; the server checks either way.
(function () {
  "use strict";
  var form = document.querySelector("form.record-entry");
  if (!form) { return; }
  var unit = form.querySelector(".subject-unit");
  var person = form.querySelector(".subject-person");
  function show() {
    var chosen = form.querySelector("input[name=subject_type]:checked");
    var isPerson = chosen && chosen.value === "person";
    unit.hidden = isPerson;
    person.hidden = !isPerson;
  }
  form.querySelectorAll("input[name=subject_type]").forEach(function (radio) {
    radio.addEventListener("change", show);
  });
  show();
})();
