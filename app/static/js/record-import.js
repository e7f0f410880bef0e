/* Bulk import of records: the upload shows its progress (XHR), then a working indicator while the server checks
   every row; the confirmation shows a working indicator with the seconds elapsed. Without scripts both forms are
   ordinary posts. */
(function () {
  'use strict';

  function ticking(element, text) {
    var started = Date.now();
    element.hidden = false;
    element.textContent = text + '（已用 0 秒）';
    return window.setInterval(function () {
      element.textContent = text + '（已用 ' + Math.round((Date.now() - started) / 1000) + ' 秒）';
    }, 1000);
  }

  var upload = document.getElementById('import-upload');
  if (upload && window.FormData && window.XMLHttpRequest) {
    upload.addEventListener('submit', function (event) {
      event.preventDefault();
      var button = upload.querySelector('button[type="submit"]');
      var box = document.getElementById('import-progress');
      var bar = document.getElementById('import-progress-bar');
      var text = document.getElementById('import-progress-text');
      var timer = null;
      var xhr = new XMLHttpRequest();
      button.disabled = true;
      box.hidden = false;
      bar.value = 0;
      text.textContent = '正在上传…';
      xhr.upload.addEventListener('progress', function (e) {
        if (e.lengthComputable) {
          bar.value = Math.round(e.loaded * 100 / e.total);
          text.textContent = '已上传 ' + bar.value + '%';
        }
      });
      xhr.upload.addEventListener('load', function () {
        bar.value = 100;
        bar.removeAttribute('value');  // indeterminate while the server works
        text.textContent = '上传完成，正在保存…';
      });
      xhr.addEventListener('load', function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (ignore) { answer = null; }
        if (xhr.status === 200 && answer && answer.location) {
          // The preview page checks every row before it answers; this page stays up meanwhile.
          timer = ticking(text, '上传完成，正在检查每一行');
          window.location.assign(answer.location);
          return;
        }
        if (timer) { window.clearInterval(timer); }
        button.disabled = false;
        bar.value = 0;
        text.textContent = (answer && answer.error) ? answer.error : '上传失败（HTTP ' + xhr.status + '），请重试。';
      });
      xhr.addEventListener('error', function () {
        if (timer) { window.clearInterval(timer); }
        button.disabled = false;
        text.textContent = '网络错误，上传未完成，请重试。';
      });
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
      ticking(document.getElementById('import-working'), '正在导入并逐条报送审核，请勿关闭页面');
    });
  }
}());
