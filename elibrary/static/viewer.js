/* The e-library's page viewer: deep zoom (OpenSeadragon over the IIIF tiles, or the page image),
   one page / two pages / thumbnails, full screen, page labels from the IIIF manifest, keyboard and
   touch, deep links (#page=27), the page's text in either script, and search inside the book with
   the hits drawn on the page (IIIF Content Search 2.0).

   Everything it shows in words comes from the template's data- attributes (translated there).
   It loads nothing from other sites. Without JavaScript the item page keeps its plain page view. */
(function () {
  "use strict";

  var root = document.getElementById("book-viewer");
  if (!root) { return; }
  var data = root.dataset;
  var $ = function (id) { return document.getElementById(id); };
  var stage = $("viewer-stage");
  var state = {
    page: 1,
    mode: "one",            // one | two | thumbs
    script: "original",     // original | latin
    canvases: [],           // {label, width, height, tileSource, thumbnail}
    hits: [],               // {seq, boxes: [[x, y, w, h]], exact, prefix, suffix}
    texts: {},
    shown: [],              // page numbers on the stage, left to right
    query: ""
  };
  var osd = null;
  var firstImage = false;

  function label(name, values) {
    var text = data["label" + name] || "";
    Object.keys(values || {}).forEach(function (key) {
      text = text.split("{" + key + "}").join(String(values[key]));
    });
    return text;
  }

  function pageCount() { return state.canvases.length; }
  function pageLabel(seq) { var c = state.canvases[seq - 1]; return c ? c.label : String(seq); }
  function clampPage(seq) { return Math.min(Math.max(1, seq | 0), Math.max(1, pageCount())); }

  // -- where the pages come from: the IIIF manifest, else the item page's own page images ----------

  function pick(map) {
    // A IIIF language map: the interface's language, else none, else the first one given.
    if (!map || typeof map !== "object") { return map ? String(map) : ""; }
    var locale = data.locale || "az";
    var order = [locale, locale + "-Latn", locale + "-Cyrl", "none", "az", "az-Latn", "az-Cyrl", "en"];
    for (var i = 0; i < order.length; i++) {
      if (map[order[i]] && map[order[i]].length) { return map[order[i]].join(" "); }
    }
    var keys = Object.keys(map);
    return keys.length && map[keys[0]].length ? map[keys[0]].join(" ") : "";
  }

  function fallbackCanvases() {
    // No manifest: the canvas sizes (the space of the search's boxes) are unknown, so hits are listed, not drawn.
    var count = parseInt(data.pageCount, 10) || 1;
    var list = [];
    for (var seq = 1; seq <= count; seq++) {
      var url = data.pageImage.replace("{page}", seq);
      list.push({ label: String(seq), width: 0, height: 0, tileSource: { type: "image", url: url }, thumbnail: url });
    }
    return list;
  }

  function serviceOf(body) {
    var services = body && (body.service || []);
    for (var i = 0; i < services.length; i++) {
      var s = services[i];
      var type = s.type || s["@type"] || "";
      if (/ImageService/.test(type) || /iiif\.io\/api\/image/.test(String(s.profile || "") + String(s["@context"] || ""))) {
        return (s.id || s["@id"]).replace(/\/$/, "");
      }
    }
    return null;
  }

  function manifestCanvases(manifest) {
    var items = (manifest && manifest.items) || [];
    return items.map(function (canvas, index) {
      var body = null;
      try { body = canvas.items[0].items[0].body; } catch (e) { body = null; }
      if (body && body.type === "Choice" && body.items) { body = body.items[0]; }
      var service = serviceOf(body);
      var fallback = data.pageImage.replace("{page}", index + 1);
      var thumb = canvas.thumbnail && canvas.thumbnail[0] && canvas.thumbnail[0].id;
      return {
        label: pick(canvas.label) || String(index + 1),
        width: canvas.width || (body && body.width) || 0,
        height: canvas.height || (body && body.height) || 0,
        tileSource: service ? service + "/info.json" : { type: "image", url: (body && body.id) || fallback },
        thumbnail: thumb || fallback
      };
    });
  }

  function loadManifest() {
    return fetch(data.manifest, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (m) { var list = manifestCanvases(m); return list.length ? list : fallbackCanvases(); })
      .catch(function () { return fallbackCanvases(); });
  }

  // -- the stage ---------------------------------------------------------------------------------

  function spread(seq) {
    // Two pages side by side as a printed book opens: page 1 alone (it is a right-hand page), then 2-3, 4-5 ...
    if (state.mode !== "two" || seq === 1) { return [seq]; }
    var left = seq % 2 === 0 ? seq : seq - 1;
    return left + 1 <= pageCount() ? [left, left + 1] : [left];
  }

  function openPages(pages) {
    state.shown = pages;
    var x = 0;
    var sources = pages.map(function (seq) {
      var c = state.canvases[seq - 1];
      var aspect = c.width && c.height ? c.width / c.height : 0.7;
      var item = { tileSource: c.tileSource, x: x, y: 0, width: aspect };
      x += aspect * 1.02;
      return item;
    });
    setStatus(label("Loading"));
    osd.open(sources);
  }

  function setStatus(text) { $("viewer-status").textContent = text || ""; }

  function canvasScale(tiled, seq) {
    // Canvas pixels (what the search answers in) to the pixels of the image shown.
    var c = state.canvases[seq - 1];
    var size = tiled.source.dimensions;
    return c && c.width ? size.x / c.width : 0;
  }

  function drawHighlights() {
    if (!osd) { return; }
    osd.clearOverlays();
    state.shown.forEach(function (seq, index) {
      var tiled = osd.world.getItemAt(index);
      if (!tiled) { return; }
      var scale = canvasScale(tiled, seq);
      if (!scale) { return; }
      state.hits.forEach(function (hit) {
        if (hit.seq !== seq) { return; }
        hit.boxes.forEach(function (box) {
          var rect = tiled.imageToViewportRectangle(box[0] * scale, box[1] * scale, box[2] * scale, box[3] * scale);
          var mark = document.createElement("div");
          mark.className = "viewer-highlight";
          mark.title = hit.exact;
          osd.addOverlay({ element: mark, location: rect });
        });
      });
    });
  }

  function goTo(seq, options) {
    seq = clampPage(seq);
    var pages = spread(seq);
    state.page = seq;
    if (state.mode === "thumbs") { setMode("one"); return; }
    if (state.shown.join() !== pages.join()) { openPages(pages); }
    updateChrome();
    if (!options || options.hash !== false) { history.replaceState(null, "", "#page=" + seq); }
    loadText(seq);
  }

  function step(direction) {
    var pages = spread(state.page);
    var target = direction > 0 ? pages[pages.length - 1] + 1 : pages[0] - 1;
    if (target >= 1 && target <= pageCount()) { goTo(target); }
  }

  function updateChrome() {
    var shown = spread(state.page).map(pageLabel).join("–");
    $("viewer-caption").textContent = label("PageOf", { label: shown, count: pageCount() });
    $("viewer-page-select").value = String(state.page);
    $("viewer-prev").disabled = spread(state.page)[0] <= 1;
    var pages = spread(state.page);
    $("viewer-next").disabled = pages[pages.length - 1] >= pageCount();
    $("viewer-one-up").setAttribute("aria-pressed", String(state.mode === "one"));
    $("viewer-two-up").setAttribute("aria-pressed", String(state.mode === "two"));
    $("viewer-thumbs").setAttribute("aria-pressed", String(state.mode === "thumbs"));
    var hitsHere = {};
    state.hits.forEach(function (h) { hitsHere[h.seq] = true; });
    Array.prototype.forEach.call($("viewer-hits").children, function (li) {
      li.classList.toggle("current", pages.indexOf(parseInt(li.dataset.page, 10)) >= 0);
    });
  }

  function setMode(mode) {
    state.mode = mode;
    var thumbs = mode === "thumbs";
    $("viewer-thumbs-grid").hidden = !thumbs;
    stage.hidden = thumbs;
    if (thumbs) { buildThumbs(); } else { state.shown = []; goTo(state.page); }
    updateChrome();
  }

  function buildThumbs() {
    var grid = $("viewer-thumbs-grid");
    if (!grid.childElementCount) {
      state.canvases.forEach(function (c, index) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.dataset.page = String(index + 1);
        var img = document.createElement("img");
        img.loading = "lazy";
        img.alt = "";
        img.src = c.thumbnail;
        var caption = document.createElement("span");
        caption.textContent = label("Page", { label: c.label });
        button.appendChild(img);
        button.appendChild(caption);
        button.addEventListener("click", function () { state.mode = "one"; $("viewer-thumbs-grid").hidden = true; stage.hidden = false; state.shown = []; goTo(index + 1); });
        li.appendChild(button);
        grid.appendChild(li);
      });
    }
    Array.prototype.forEach.call(grid.querySelectorAll("button"), function (b) {
      b.classList.toggle("current", parseInt(b.dataset.page, 10) === state.page);
    });
    var current = grid.querySelector("button.current");
    if (current) { current.focus(); }
  }

  // -- the page's text ---------------------------------------------------------------------------

  function loadText(seq) {
    var show = function () {
      var entry = state.texts[seq];
      if (state.page !== seq) { return; }
      var text = entry ? (state.script === "latin" ? entry.latin_text : entry.original_text) : "";
      var box = $("viewer-page-text");
      box.textContent = text && text.trim() ? text : label("NoText");
      box.lang = state.script === "latin" ? "az-Latn" : "";
    };
    if (state.texts[seq] !== undefined) { show(); return; }
    fetch(data.pageText.replace("{page}", seq), { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (json) { state.texts[seq] = json; show(); })
      .catch(function () { state.texts[seq] = null; show(); });
  }

  function setScript(script) {
    state.script = script;
    $("viewer-script-original").setAttribute("aria-pressed", String(script === "original"));
    $("viewer-script-latin").setAttribute("aria-pressed", String(script === "latin"));
    loadText(state.page);
  }

  // -- search inside -----------------------------------------------------------------------------

  function canvasSeq(target) {
    var id = typeof target === "string" ? target : (target && (target.id || target.source)) || "";
    var match = /\/canvas\/(\d+)(?:#xywh=(-?\d+),(-?\d+),(\d+),(\d+))?/.exec(id);
    if (!match) { return null; }
    return { seq: parseInt(match[1], 10), box: match[2] ? [+match[2], +match[3], +match[4], +match[5]] : null };
  }

  function collectHits(pages) {
    var boxes = {};
    var hits = [];
    pages.forEach(function (page) {
      (page.items || []).forEach(function (anno) {
        var where = canvasSeq(anno.target);
        if (where) { boxes[anno.id] = where; }
      });
      var contexts = [];
      (page.annotations || []).forEach(function (p) { contexts = contexts.concat(p.items || []); });
      if (!contexts.length) {  // a service without snippets: one hit per annotation
        (page.items || []).forEach(function (anno) {
          var where = boxes[anno.id];
          if (where) { hits.push({ seq: where.seq, boxes: where.box ? [where.box] : [], exact: (anno.body && anno.body.value) || "", prefix: "", suffix: "" }); }
        });
      }
      contexts.forEach(function (ctx) {
        var targets = [].concat(ctx.target || []);
        var hit = { seq: null, boxes: [], exact: "", prefix: "", suffix: "" };
        targets.forEach(function (t, i) {
          var where = boxes[t.source];
          if (!where) { return; }
          if (hit.seq === null) { hit.seq = where.seq; }
          if (where.box) { hit.boxes.push(where.box); }
          var sel = (t.selector || [])[0] || {};
          if (i === 0) { hit.exact = sel.exact || ""; hit.prefix = sel.prefix || ""; hit.suffix = sel.suffix || ""; }
        });
        if (hit.seq !== null) { hits.push(hit); }
      });
    });
    return hits;
  }

  function fetchAll(url, pages, limit) {
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (json) {
        if (!r.ok) { throw new Error((json && json.detail) ? String(json.detail) : String(r.status)); }
        pages.push(json);
        var next = json.next && (json.next.id || json.next);
        // Follow "next" on this site only, and only so far: a hit list longer than that is read page by page.
        if (next && pages.length < limit && new URL(next, location.href).origin === location.origin) {
          var local = new URL(next, location.href);
          return fetchAll(local.pathname + local.search, pages, limit);
        }
        return pages;
      });
    });
  }

  function search(q) {
    state.query = q;
    var status = $("viewer-search-status");
    var list = $("viewer-hits");
    list.textContent = "";
    state.hits = [];
    drawHighlights();
    if (!q.trim()) { status.textContent = ""; return Promise.resolve(); }
    status.textContent = label("Searching");
    return fetchAll(data.search + "?q=" + encodeURIComponent(q), [], 10).then(function (pages) {
      state.hits = collectHits(pages);
      var total = pages[0] && pages[0].partOf && pages[0].partOf.total;
      var count = typeof total === "number" ? total : state.hits.length;
      var seqs = {};
      state.hits.forEach(function (h) { seqs[h.seq] = true; });
      status.textContent = count ? label("Hits", { count: count, pages: Object.keys(seqs).length }) : label("NoHits");
      state.hits.forEach(function (hit) {
        var li = document.createElement("li");
        li.dataset.page = String(hit.seq);
        var button = document.createElement("button");
        button.type = "button";
        var where = document.createElement("span");
        where.className = "viewer-hit-page";
        where.textContent = label("Page", { label: pageLabel(hit.seq) });
        var snippet = document.createElement("span");
        snippet.className = "viewer-hit-snippet";
        snippet.appendChild(document.createTextNode(hit.prefix));
        var mark = document.createElement("mark");
        mark.textContent = hit.exact;
        snippet.appendChild(mark);
        snippet.appendChild(document.createTextNode(hit.suffix));
        button.appendChild(where);
        button.appendChild(snippet);
        button.addEventListener("click", function () { showHit(hit); });
        li.appendChild(button);
        list.appendChild(li);
      });
      drawHighlights();
      updateChrome();
    }).catch(function (error) {
      status.textContent = label("SearchFailed", { reason: error.message });
    });
  }

  function showHit(hit) {
    if (state.mode === "thumbs") { setMode("one"); }
    var zoomTo = function () {
      var index = state.shown.indexOf(hit.seq);
      var tiled = osd.world.getItemAt(index);
      if (!tiled || !hit.boxes.length) { return; }
      var scale = canvasScale(tiled, hit.seq);
      if (!scale) { return; }
      var b = hit.boxes[0];
      var rect = tiled.imageToViewportRectangle(b[0] * scale, b[1] * scale, b[2] * scale, b[3] * scale);
      // Zoom to the line around the word: a few word widths, not the word alone.
      var pad = Math.max(rect.width * 3, rect.height * 8);
      osd.viewport.fitBoundsWithConstraints(new OpenSeadragon.Rect(rect.x - pad, rect.y - pad / 2, rect.width + 2 * pad, rect.height + pad));
    };
    if (state.shown.indexOf(hit.seq) >= 0 && osd.world.getItemCount() === state.shown.length) {
      zoomTo();
    } else {
      osd.addOnceHandler("open", function () { setTimeout(zoomTo, 0); });
      goTo(hit.seq);
    }
  }

  // -- keys, buttons, links ----------------------------------------------------------------------

  function atHome() { return osd.viewport.getZoom() <= osd.viewport.getHomeZoom() * 1.02; }

  function onKey(event) {
    if (event.ctrlKey || event.altKey || event.metaKey) { return; }
    var target = event.target;
    if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) { return; }
    if (target && stage.contains(target)) { return; }  // OpenSeadragon's own keys (see canvas-key)
    var handled = true;
    switch (event.key) {
      case "ArrowLeft": case "PageUp": step(-1); break;
      case "ArrowRight": case "PageDown": step(1); break;
      case "Home": goTo(1); break;
      case "End": goTo(pageCount()); break;
      case "+": case "=": osd.viewport.zoomBy(1.4); break;
      case "-": case "_": osd.viewport.zoomBy(1 / 1.4); break;
      case "0": osd.viewport.goHome(); break;
      default: handled = false;
    }
    if (handled) { event.preventDefault(); }
  }

  function onCanvasKey(event) {
    // On the image: arrows turn the page while the whole page is in view, and pan once zoomed in.
    var key = event.originalEvent.key;
    if ((key === "ArrowLeft" || key === "ArrowRight") && atHome()) {
      event.preventDefaultAction = true;
      event.originalEvent.preventDefault();
      step(key === "ArrowLeft" ? -1 : 1);
    } else if (key === "PageUp" || key === "PageDown") {
      event.preventDefaultAction = true;
      event.originalEvent.preventDefault();
      step(key === "PageUp" ? -1 : 1);
    }
  }

  function pageFromHash() {
    var match = /(?:^#|&)page=(\d+)/.exec(location.hash);
    return match ? parseInt(match[1], 10) : null;
  }

  function toggleFullscreen() {
    if (document.fullscreenElement) { document.exitFullscreen(); } else if (root.requestFullscreen) { root.requestFullscreen(); }
  }

  function wire() {
    $("viewer-prev").addEventListener("click", function () { step(-1); });
    $("viewer-next").addEventListener("click", function () { step(1); });
    $("viewer-zoom-in").addEventListener("click", function () { osd.viewport.zoomBy(1.4); });
    $("viewer-zoom-out").addEventListener("click", function () { osd.viewport.zoomBy(1 / 1.4); });
    $("viewer-home").addEventListener("click", function () { osd.viewport.goHome(); });
    $("viewer-one-up").addEventListener("click", function () { setMode("one"); });
    $("viewer-two-up").addEventListener("click", function () { setMode("two"); });
    $("viewer-thumbs").addEventListener("click", function () { setMode("thumbs"); });
    $("viewer-fullscreen").addEventListener("click", toggleFullscreen);
    document.addEventListener("fullscreenchange", function () {
      $("viewer-fullscreen").setAttribute("aria-pressed", String(document.fullscreenElement === root));
      root.classList.toggle("is-fullscreen", document.fullscreenElement === root);
    });
    $("viewer-script-original").addEventListener("click", function () { setScript("original"); });
    $("viewer-script-latin").addEventListener("click", function () { setScript("latin"); });
    $("viewer-page-select").addEventListener("change", function (e) { goTo(parseInt(e.target.value, 10)); });
    $("viewer-search").addEventListener("submit", function (e) { e.preventDefault(); search($("viewer-search-q").value); });
    window.addEventListener("hashchange", function () {
      var seq = pageFromHash();
      if (seq && seq !== state.page) { goTo(seq, { hash: false }); }
    });
    document.addEventListener("keydown", onKey);
  }

  function fillSelect() {
    var select = $("viewer-page-select");
    state.canvases.forEach(function (c, index) {
      var option = document.createElement("option");
      option.value = String(index + 1);
      option.textContent = label("PageOf", { label: c.label, count: pageCount() });
      select.appendChild(option);
    });
  }

  function start(canvases) {
    state.canvases = canvases;
    var hashPage = pageFromHash();
    state.page = clampPage(hashPage || parseInt(data.page, 10) || 1);
    root.hidden = false;
    fillSelect();
    osd = OpenSeadragon({
      element: stage,
      drawer: "canvas",
      showNavigationControl: false,
      showNavigator: false,
      visibilityRatio: 0.5,
      minZoomImageRatio: 0.8,
      maxZoomPixelRatio: 4,
      animationTime: 0.4,
      crossOriginPolicy: false,
      preserveViewport: false,
      gestureSettingsMouse: { clickToZoom: false, dblClickToZoom: true },
      gestureSettingsTouch: { pinchToZoom: true, flickEnabled: true }
    });
    osd.addHandler("canvas-key", onCanvasKey);
    osd.addHandler("open", function () { setStatus(""); drawHighlights(); });
    osd.addHandler("open-failed", function () { setStatus(label("ImageFailed")); });
    osd.addHandler("tile-load-failed", function () { setStatus(label("ImageFailed")); });
    osd.addHandler("tile-loaded", function () {
      if (firstImage) { return; }
      firstImage = true;
      // For bench/viewer_first_image.py: when the first image of a page reached the screen.
      requestAnimationFrame(function () {
        if (window.performance && performance.mark) { performance.mark("viewer:first-image"); }
        root.dataset.firstImage = "1";
      });
    });
    wire();
    // For the browser tests and bench/viewer_first_image.py: the viewer's state, read from outside.
    root.bookViewer = { osd: osd, state: state, goTo: goTo, search: search };
    goTo(state.page, { hash: hashPage !== null });
    if (data.q) { search(data.q); }
  }

  function startWithoutZoom() {
    // OpenSeadragon missing (static/vendor/ not built): still a page image with paging, never an empty box.
    root.hidden = false;
    root.classList.add("no-zoom");
    var img = document.createElement("img");
    img.className = "viewer-plain-image";
    img.alt = "";
    stage.appendChild(img);
    var count = parseInt(data.pageCount, 10) || 1;
    var show = function (seq) {
      state.page = Math.min(Math.max(1, seq), count);
      img.src = data.pageImage.replace("{page}", state.page);
      $("viewer-caption").textContent = label("PageOf", { label: state.page, count: count });
      history.replaceState(null, "", "#page=" + state.page);
      loadText(state.page);
    };
    $("viewer-prev").addEventListener("click", function () { show(state.page - 1); });
    $("viewer-next").addEventListener("click", function () { show(state.page + 1); });
    show(pageFromHash() || parseInt(data.page, 10) || 1);
  }

  function boot() {
    if (typeof OpenSeadragon !== "function") { startWithoutZoom(); return; }
    // OpenSeadragon adds an inline <style> (for touch screens) unless one with this attribute is there. The
    // site's policy allows no inline style but an empty one (app.py), so an empty one stands in; its rule is in viewer.css.
    if (!document.querySelector("style[data-openseadragon-mobile-css]")) {
      var placeholder = document.createElement("style");
      placeholder.setAttribute("data-openseadragon-mobile-css", "true");
      document.head.appendChild(placeholder);
    }
    loadManifest().then(start);
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", boot); } else { boot(); }
}());
