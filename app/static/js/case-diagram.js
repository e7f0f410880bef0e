/* Case page: draw the case's BPMN process with bpmn-js (global BpmnJS, the NavigatedViewer bundle),
   marking the steps already done and the ones open now. */
(function () {
  'use strict';

  var FAILED = '流程图加载失败';

  /** Fetch the diagram JSON of the case (same-origin, with the session cookie). */
  function fetchDiagram(src) {
    return fetch(src, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (!response.ok) { throw new Error('HTTP ' + response.status); }
        return response.json();
      });
  }

  /** Add a marker to each id the diagram draws (the engine also reports ids with no shape). */
  function mark(viewer, ids, marker) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    ids.forEach(function (id) {
      if (registry.get(id)) { canvas.addMarker(id, marker); }
    });
  }

  /** Draw the XML into the container, fit it, and mark completed and active elements. */
  function draw(container, data) {
    var viewer = new BpmnJS({ container: container });
    return viewer.importXML(data.xml).then(function () {
      viewer.get('canvas').zoom('fit-viewport');
      mark(viewer, data.completed, 'done');
      mark(viewer, data.active, 'current');
    });
  }

  /** Replace the container's content with the Chinese failure message. */
  function showFailure(container) {
    var message = document.createElement('p');
    message.className = 'case-diagram-error';
    message.setAttribute('role', 'alert');
    message.textContent = FAILED;
    container.textContent = '';
    container.appendChild(message);
  }

  var container = document.getElementById('case-diagram');
  if (!container) { return; }
  fetchDiagram(container.getAttribute('data-src'))
    .then(function (data) {
      container.textContent = '';
      return draw(container, data);
    })
    .catch(function (error) {
      showFailure(container);
      console.error(error);
    });
}());
