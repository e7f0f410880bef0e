/* Bulk import of records: the upload shows its progress (XHR), then a working indicator while the server checks
   every row; the confirmation shows a working indicator with the seconds elapsed. Without scripts both forms are
   ordinary posts. The words come from the forms' data- attributes (translated with the page). */
(function () {
  'use strict';

  function ticking(element, text, elapsed) {
    var started = Date.now();
    function show() {
      element.textContent = text + elapsed.replace('{n}', String(Math.round((Date.now() - started) / 1000)));
    }
    element.hidden = false;
    show();
    return window.setInterval(show, 1000);
  }

  var upload = document.getElementById('import-upload');
  if (upload && window.FormData && window.XMLHttpRequest) {
    var words = upload.dataset;
    upload.addEventListener('submit', function (event) {
      event.preventDefault();
      var button = upload.querySelector('button[type="submit"]');
      var box = document.getElementById('import-progress');
      var bar = document.getElementById('import-progress-bar');
      var text = document.getElementById('import-progress-text');
      var timer = null;
      var xhr = new XMLHttpRequest();
      function stop(message) {
        if (timer) { window.clearInterval(timer); }
        button.disabled = false;
        bar.value = 0;
        text.textContent = message;
      }
      button.disabled = true;
      box.hidden = false;
      bar.value = 0;
      text.textContent = words.uploading;
      xhr.upload.addEventListener('progress', function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round(e.loaded * 100 / e.total);
          text.textContent = words.uploaded + ' ' + bar.value + '%';
        }
      });
      xhr.upload.addEventListener('load', function () {
        bar.removeAttribute('value');  // indeterminate while the server works
        text.textContent = words.saving;
      });
      xhr.addEventListener('load', function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (ignore) { answer = null; }
        if (xhr.status === 200 && answer && answer.location) {
          // The preview page checks every row before it answers; this page stays up meanwhile.
          timer = ticking(text, words.checking, words.elapsed);
          window.location.assign(answer.location);
          return;
        }
        stop((answer && answer.error) ? answer.error : words.failed.replace('{status}', String(xhr.status)));
      });
      xhr.addEventListener('error', function () { stop(words.network); });
      xhr.open('POST', upload.action);
      xhr.setRequestHeader('X-Requested-With', 'XMLHttpRequest');
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.send(new FormData(upload));
    });
  }

  var confirm = document.getElementById('import-confirm');
  if (confirm) {
    confirm.addEventListener('submit', function () {
      confirm.querySelector('button[type="submit"]').disabled = true;
      ticking(document.getElementById('import-working'), confirm.dataset.working, confirm.dataset.elapsed);
    });
  }
}());
