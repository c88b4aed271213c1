// Phones: results first, the facets folded away (the page works open without this script).
(function () {
  var box = document.getElementById('facet-box');
  if (box && window.matchMedia && window.matchMedia('(max-width: 720px)').matches) box.open = false;
})();

// Suggestions as you type in the search box (the form works without this script).
(function () {
  var input = document.getElementById('q');
  var list = document.getElementById('goi-y');
  if (!input || !list || !window.fetch) return;
  var timer = null, last = '';
  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var q = input.value;
      if (q.trim().length < 2 || q === last) return;
      last = q;
      fetch('/api/v1/suggest?q=' + encodeURIComponent(q))
        .then(function (r) { return r.ok ? r.json() : { suggestions: [] }; })
        .then(function (data) {
          if (input.value !== q) return;
          list.textContent = '';
          (data.suggestions || []).forEach(function (s) {
            var o = document.createElement('option');
            o.value = typeof s === 'string' ? s : (s.text || s.title || '');
            list.appendChild(o);
          });
        })
        .catch(function () {});
    }, 150);
  });
})();
