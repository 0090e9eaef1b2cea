// The dashboard's page-side script (digitlib.dashboard.page_script puts it on the page).
//
// 1. A size guard. The FileUpload reads every chosen file whole with
//    FileReader.readAsArrayBuffer and sends it in one websocket message; a file over the limit
//    is read as empty instead, so its size still arrives (the kernel answers with a sentence)
//    and hundreds of megabytes never cross the socket.
// 2. Files dropped on the page, pasted into it, or taken with a phone's camera go in through the
//    FileUpload itself, so they meet the same guard, the same message and the same kernel code
//    as the button: the upload button's view opens its (detached) file input with input.click();
//    while files are waiting, that click hands them to the input and fires its "change" instead
//    of opening the chooser.
(function () {
  if (window.__digitPage) { return; }
  window.__digitPage = true;
  const limit = __LIMIT__;

  const read = FileReader.prototype.readAsArrayBuffer;
  FileReader.prototype.readAsArrayBuffer = function (blob) {
    return read.call(this, blob && blob.size > limit ? blob.slice(0, 0) : blob);
  };

  let waiting = null;  // a FileList for the upload's next input.click()
  const click = HTMLInputElement.prototype.click;
  HTMLInputElement.prototype.click = function () {
    if (waiting && this.type === "file") {
      const files = waiting;
      waiting = null;
      this.files = files;
      this.dispatchEvent(new Event("change"));
      return;
    }
    return click.call(this);
  };

  // Hand files to the FileUpload. Files given before the page's widgets are drawn wait for the
  // upload button (up to a minute) rather than being dropped on the floor.
  function send(files, tries) {
    if (!files || !files.length) { return false; }
    const list = new DataTransfer();
    for (const file of files) { list.items.add(file); }
    const button = document.querySelector(".digit-upload");
    if (!button) {
      if ((tries || 0) < 240) {
        setTimeout(function () { send(list.files, (tries || 0) + 1); }, 250);
      }
      return false;
    }
    waiting = list.files;
    try { button.click(); } finally { waiting = null; }
    return true;
  }
  window.digitSendFiles = send;

  // Drag and drop, anywhere on the page. Only drags that carry files are taken: dragging text
  // or an image inside the page behaves as it always does.
  function carriesFiles(event) {
    const types = event.dataTransfer ? Array.from(event.dataTransfer.types || []) : [];
    return types.indexOf("Files") >= 0;
  }
  let depth = 0;
  function dropping(on) { document.body.classList.toggle("digit-dropping", on); }
  window.addEventListener("dragenter", function (event) {
    if (!carriesFiles(event)) { return; }
    event.preventDefault();
    depth += 1;
    dropping(true);
  });
  window.addEventListener("dragover", function (event) {
    if (!carriesFiles(event)) { return; }
    event.preventDefault();  // without this the browser opens the file instead of dropping it
    event.dataTransfer.dropEffect = "copy";
  });
  window.addEventListener("dragleave", function (event) {
    if (!carriesFiles(event)) { return; }
    depth = Math.max(0, depth - 1);
    if (depth === 0) { dropping(false); }
  });
  window.addEventListener("drop", function (event) {
    if (!carriesFiles(event)) { return; }
    event.preventDefault();
    depth = 0;
    dropping(false);
    send(event.dataTransfer.files);
  });

  // Paste: an image copied from another program or a screenshot. Text pastes are left alone.
  document.addEventListener("paste", function (event) {
    const files = event.clipboardData ? event.clipboardData.files : null;
    if (files && files.length) {
      event.preventDefault();
      send(files);
    }
  });

  // The camera button (shown on touch screens): a file input that asks for the rear camera;
  // the photo it takes goes in as an upload.
  document.addEventListener("click", function (event) {
    const button = event.target.closest ? event.target.closest(".digit-camera") : null;
    if (!button) { return; }
    const input = document.createElement("input");
    input.type = "file";
    input.accept = "image/*";
    input.setAttribute("capture", "environment");
    input.addEventListener("change", function () { send(input.files); });
    input.click();
  });
})();
