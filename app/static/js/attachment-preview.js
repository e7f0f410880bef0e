/* Case page: an attachment's preview (PDF in a frame, image in an <img>) is fetched only when its <details> is
   opened, so looking at a case with many files loads none of them until one is asked for. */
(function () {
  'use strict';

  /** Put the preview element into the opened <details>, once. */
  function load(details) {
    if (details.dataset.previewLoaded) { return; }
    details.dataset.previewLoaded = '1';
    var element;
    if (details.dataset.previewKind === 'image') {
      element = document.createElement('img');
      element.alt = details.dataset.previewTitle || '';
    } else {
      element = document.createElement('iframe');
      element.title = details.dataset.previewTitle || '';
      element.className = 'pdf-preview';
    }
    element.src = details.dataset.previewSrc;
    var fallback = details.querySelector('.preview-fallback');
    if (fallback) { fallback.hidden = true; }
    details.appendChild(element);
  }

  document.querySelectorAll('details[data-preview-src]').forEach(function (details) {
    details.addEventListener('toggle', function () {
      if (details.open) { load(details); }
    });
    if (details.open) { load(details); }
  });
}());
