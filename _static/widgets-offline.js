// Keep Jupyter widgets on this site: training rooms often block CDNs.
// Runs before require.js and the widgets embedder (vendor/, see tools/fetch_static.py).
// The embedder finds its icon fonts beside the URL that require.js gives its modules,
// and fetches any widget module it does not bundle from a CDN. Both now resolve under
// this site's _static/vendor/, so a missing module fails with a local 404 instead.
(function () {
  "use strict";
  var script = document.currentScript;
  var vendor = new URL("vendor/", script.src);
  var manager = new URL("html-manager/", vendor).href;
  var managerPath = manager.replace(/\/$/, ""); // require.js adds the slash itself

  // require.js reads a global `require` object, set before it loads, as its config.
  // The embedder's bundled modules (@jupyter-widgets/base, controls, html-manager...)
  // then get URLs in the vendor folder, where their fonts are.
  window.require = {
    paths: {
      "@jupyter-widgets": managerPath,
      "@jupyter-widgets/html-manager/dist": managerPath,
    },
  };
  window.__jupyter_widgets_assets_path__ = manager; // a public path: ends in a slash

  // The embedder takes its CDN base from this attribute on any <script> of the page.
  script.setAttribute("data-jupyter-widgets-cdn", new URL("npm/", vendor).href);
})();
