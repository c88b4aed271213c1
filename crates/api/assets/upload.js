// Resumable uploads (tus 1.0) for the upload form: the file goes up in chunks; a dropped
// connection is retried with growing pauses, resuming from the offset the server reports; an
// upload interrupted by closing the page resumes when the same file is chosen again.
(function () {
  var form = document.getElementById('upload-form') || document.getElementById('edit-form');
  if (!form || !window.fetch || !window.Blob) return;
  var csrf = form.getAttribute('data-csrf');
  var editing = form.id === 'edit-form';
  var bar = document.getElementById('upload-progress');
  var status = document.getElementById('upload-status');
  var result = document.getElementById('upload-result');
  var button = document.getElementById(editing ? 'edit-save' : 'upload-start');
  var CHUNK = 2 * 1024 * 1024;

  function say(state, text) { status.setAttribute('data-state', state); status.textContent = text; }
  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }
  function b64(s) { return btoa(unescape(encodeURIComponent(s))); }
  function mib(n) { return (n / 1048576).toFixed(1) + ' MB'; }
  function headers(extra) {
    var h = { 'Tus-Resumable': '1.0.0', 'X-CSRF-Token': csrf };
    for (var k in extra) h[k] = extra[k];
    return h;
  }
  var MESSAGES = {
    payload_too_large: 'Tệp vượt quá dung lượng cho phép.',
    unauthorized: 'Phiên đăng nhập đã hết. Hãy đăng nhập lại.',
    session_expired: 'Phiên đăng nhập đã hết. Hãy đăng nhập lại.',
    forbidden: 'Tài khoản của bạn không được tải lên học liệu.',
    csrf_failed: 'Trang đã cũ so với phiên đăng nhập. Hãy tải lại trang.',
    conflict: 'Học liệu này đã có trong kho.'
  };
  // The server's error as a sentence for the teacher (the field named, the detail kept).
  function problem(r) {
    return r.json().then(function (b) {
      var e = b.error || {};
      if (MESSAGES[e.code]) return MESSAGES[e.code];
      if (e.field) return 'Thông tin chưa hợp lệ ở mục «' + e.field + '» (' + e.message + ').';
      return e.message || ('HTTP ' + r.status);
    }, function () { return 'HTTP ' + r.status; });
  }
  function metadata() {
    var m = {};
    new FormData(form).forEach(function (v, k) {
      if (k === 'file' || k === 'csrf' || v === '') return;
      if (k === 'grade') m.grade = Number(v);
      else if (k === 'keywords' || k === 'authors') m[k] = v.split(',').map(function (s) { return s.trim(); }).filter(Boolean);
      else m[k] = v;
    });
    return m;
  }

  // Asks until the server answers: a network error, or a server that is busy or restarting
  // (423, 5xx), is retried with growing pauses; any other answer is returned.
  async function persist(what, make) {
    for (var attempt = 0; ; attempt++) {
      try {
        var r = await make();
        if (r.status !== 423 && r.status < 500) return r;
      } catch (e) { /* the connection dropped */ }
      var wait = Math.min(30000, 1000 * Math.pow(2, Math.min(attempt, 5)));
      say('retrying', 'Mất kết nối khi ' + what + '. Thử lại sau ' + Math.round(wait / 1000) + ' giây…');
      await sleep(wait);
    }
  }
  // Where the server got to.
  async function serverOffset(url) {
    var h = await persist('kiểm tra phần đã tải', function () { return fetch(url, { method: 'HEAD', headers: headers({}) }); });
    if (!h.ok) throw new Error('Phiên tải lên không còn (HTTP ' + h.status + '). Hãy chọn lại tệp.');
    return Number(h.headers.get('Upload-Offset'));
  }

  async function start(file) {
    var key = 'hoclieu-upload:' + [file.name, file.size, file.lastModified].join(':');
    var url = localStorage.getItem(key), offset = 0;
    if (url) {
      var head = await persist('kiểm tra phần đã tải', function () { return fetch(url, { method: 'HEAD', headers: headers({}) }); });
      if (head.ok) offset = Number(head.headers.get('Upload-Offset')); else { url = null; localStorage.removeItem(key); }
    }
    if (!url) {
      var created = await persist('tạo phiên tải lên', function () {
        return fetch('/api/v1/uploads', { method: 'POST', headers: headers({
          'Upload-Length': String(file.size), 'Upload-Metadata': 'filename ' + b64(file.name) }) });
      });
      if (!created.ok) throw new Error(await problem(created));
      url = created.headers.get('Location');
      localStorage.setItem(key, url);
    }
    bar.max = file.size;
    while (offset < file.size) {
      bar.value = offset;
      say('uploading', 'Đang tải lên: ' + mib(offset) + ' / ' + mib(file.size));
      var chunk = file.slice(offset, offset + CHUNK);
      var sent;
      try {
        sent = await fetch(url, { method: 'PATCH', body: chunk, headers: headers({
          'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset) }) });
      } catch (e) {
        // The connection dropped mid-chunk: ask where the server got to, then go on from there.
        say('retrying', 'Mất kết nối khi đang tải. Đang thử lại…');
        await sleep(1000);
        offset = await serverOffset(url);
        continue;
      }
      // 409: the server has a different offset; 423, 5xx: busy or restarting.
      if (sent.status === 409 || sent.status === 423 || sent.status >= 500) {
        if (sent.status !== 409) { say('retrying', 'Máy chủ đang bận. Đang thử lại…'); await sleep(2000); }
        offset = await serverOffset(url);
        continue;
      }
      if (!sent.ok) throw new Error(await problem(sent));
      offset = Number(sent.headers.get('Upload-Offset'));
    }
    bar.value = file.size;
    say('finishing', 'Đã tải đủ tệp. Đang lưu học liệu…');
    var done = await persist('lưu học liệu', function () {
      return fetch(url + '/material', { method: 'POST', headers: headers({ 'Content-Type': 'application/json' }),
        body: JSON.stringify(metadata()) });
    });
    if (done.status === 409) {
      // A retried request: the first one may have made the material already.
      var state = await persist('lưu học liệu', function () { return fetch(url, { headers: headers({}) }); });
      var info = state.ok ? await state.json() : {};
      if (info.material_url) {
        localStorage.removeItem(key);
        return (await fetch(info.material_url)).json();
      }
    }
    if (!done.ok) throw new Error(await problem(done));
    localStorage.removeItem(key);
    return done.json();
  }

  // An edit: new metadata and, if chosen, new files, in one multipart request. A published
  // material answers 202 with the proposed version, a draft 200 with itself.
  async function save() {
    var body = new FormData();
    body.append('metadata', new Blob([JSON.stringify(metadata())], { type: 'application/json' }));
    Array.prototype.forEach.call(form.querySelector('input[type=file]').files, function (f) { body.append('file', f, f.name); });
    say('uploading', 'Đang lưu…');
    var r = await persist('lưu', function () {
      return fetch(form.getAttribute('data-endpoint'), { method: 'POST', headers: { 'X-CSRF-Token': csrf }, body: body });
    });
    if (!r.ok) throw new Error(await problem(r));
    return { status: r.status, body: await r.json() };
  }

  if (editing) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      button.disabled = true;
      result.textContent = '';
      save().then(function (saved) {
        var id = form.getAttribute('data-endpoint').split('/')[4];
        var a = document.createElement('a');
        if (saved.status === 202) {
          say('done', 'Đã lưu phiên bản ' + saved.body.number + ' (bản nháp). Hãy gửi thẩm định để phiên bản này được xuất bản.');
          a.href = '/tham-dinh/' + id + '/phien-ban/' + saved.body.number;
          a.textContent = 'Xem và gửi thẩm định phiên bản ' + saved.body.number;
        } else {
          say('done', 'Đã lưu.');
          a.href = '/tai-lieu/' + id;
          a.textContent = saved.body.title;
        }
        result.appendChild(a);
      }, function (e) {
        say('error', 'Không lưu được: ' + e.message);
      }).then(function () { button.disabled = false; });
    });
    return;
  }

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var file = form.querySelector('input[type=file]').files[0];
    if (!file) { say('error', 'Hãy chọn một tệp.'); return; }
    button.disabled = true;
    result.textContent = '';
    start(file).then(function (material) {
      say('done', material.status === 'published' ? 'Đã tải lên và xuất bản.'
        : 'Đã tải lên. Học liệu đang là bản nháp: hãy gửi thẩm định ở trang «Của tôi».');
      var a = document.createElement('a');
      a.href = '/tai-lieu/' + material.id;
      a.textContent = material.title;
      result.appendChild(a);
    }, function (e) {
      say('error', 'Không tải lên được: ' + e.message);
    }).then(function () { button.disabled = false; });
  });
})();
