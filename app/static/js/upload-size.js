/* Upload forms: a file over the per-file limit (data-max-bytes) is named under its field before anything is sent,
   so the typed text stays on the page; the server checks the same limit again. */
(function () {
  'use strict';

  /** The files of one input that are over its limit. */
  function oversize(input) {
    var limit = Number(input.dataset.maxBytes);
    return Array.prototype.filter.call(input.files || [], function (file) { return file.size > limit; });
  }

  /** Show (or clear) the message under the input; return whether it found an over-size file. */
  function check(form, input) {
    var note = input.parentNode.querySelector('p.field-error[data-for="' + input.id + '"]');
    var names = oversize(input).map(function (file) { return form.dataset.tooLarge.replace('{name}', file.name); });
    if (!names.length) {
      if (note) { note.remove(); }
      return false;
    }
    if (!note) {
      note = document.createElement('p');
      note.className = 'field-error';
      note.dataset.for = input.id;
      input.insertAdjacentElement('afterend', note);
    }
    note.textContent = names.join(' ');
    return true;
  }

  document.querySelectorAll('form[data-too-large]').forEach(function (form) {
    var inputs = form.querySelectorAll('input[type="file"][data-max-bytes]');
    inputs.forEach(function (input) {
      input.addEventListener('change', function () { check(form, input); });
    });
    form.addEventListener('submit', function (event) {
      var refused = Array.prototype.map.call(inputs, function (input) { return check(form, input); });
      if (refused.indexOf(true) !== -1) { event.preventDefault(); }
    });
  });
}());
