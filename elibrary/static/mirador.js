/* Starts Mirador (static/vendor/mirador.min.js) on the item's IIIF manifest: the page /items/<id>/mirador. */
(function () {
  'use strict';
  var root = document.getElementById('mirador');
  if (!root || !window.Mirador) { return; }
  var page = parseInt(root.dataset.page || '1', 10);
  var hash = /^#page=(\d+)$/.exec(window.location.hash);
  if (hash) { page = parseInt(hash[1], 10); }
  window.miradorViewer = window.Mirador.viewer({
    id: 'mirador',
    windows: [{ manifestId: root.dataset.manifest, canvasIndex: Math.max(0, page - 1) }],
    window: { allowClose: false, allowMaximize: false, allowFullscreen: true },
    workspace: { showZoomControls: true },
    workspaceControlPanel: { enabled: false },
  });
}());
