// The direct-tracking script served at /track.js (see the README, "Direct tracking"). Plain ES5-era
// browser JavaScript kept as text: it runs in visitors' browsers, not here. Its behaviour is tested by
// running it against the real /visit in test/integration/track-script.test.ts.
export const TRACK_SCRIPT = String.raw`// Tracklane direct tracking. On a lander the ad links to directly:
//   <script src="https://TRACKER/track.js?campaign=KEY" async></script>
// It records the visit (GET /visit/KEY with the page's query string and referrer) and adds the click ID to the
// page's links to the tracker's /cta, so the click-through and the conversion find the visit.
(function () {
  var script = document.currentScript;
  if (!script || !window.fetch || !window.URL) return;
  var src = new URL(script.src, location.href);
  var key = src.searchParams.get('campaign');
  if (!key) return;
  var base = src.origin + src.pathname.replace(/\/track\.js$/, '');
  var CTA = /\/cta(\/\d+)?$/;
  var clickId = null;

  function tag(a) {
    var u;
    try {
      u = new URL(a.href, location.href);
    } catch (e) {
      return;
    }
    if (!CTA.test(u.pathname) || u.origin + u.pathname.replace(CTA, '') !== base) return;
    u.searchParams.set('cid', clickId);
    a.href = u.toString();
  }

  // The page's own referrer (the ad network's page), as /click would have seen it: the Referer of
  // this call is the lander itself.
  var query = (location.search ? location.search + '&' : '?') + 'tl_referrer=' + encodeURIComponent(document.referrer || '');
  fetch(base + '/visit/' + encodeURIComponent(key) + query, { credentials: 'omit' })
    .then(function (r) {
      return r.ok ? r.json() : null;
    })
    .then(function (visit) {
      if (!visit || !visit.clickId) return;
      clickId = visit.clickId;
      window.tracklane = { clickId: clickId, ctaUrl: visit.ctaUrl };
      var links = document.querySelectorAll('a[href]');
      for (var i = 0; i < links.length; i++) tag(links[i]);
      // Links the page adds later get it when clicked.
      document.addEventListener(
        'click',
        function (e) {
          var a = e.target && e.target.closest ? e.target.closest('a[href]') : null;
          if (a) tag(a);
        },
        true,
      );
    })
    .catch(function () {});
})();
`;
