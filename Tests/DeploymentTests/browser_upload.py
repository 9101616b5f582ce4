"""Drives headless Chromium through the upload page of a running `skiff serve` over the DevTools protocol:
choose MODEL in the picker, put IMAGE into the file input (as a user's file chooser does), press Classify,
wait for the result, save a screenshot to SCREENSHOT and print the rendered rows as JSON.

    python3 browser_upload.py http://127.0.0.1:PORT/ MODEL IMAGE SCREENSHOT

Needs Debian's chromium and the websocket-client package (both installed by scripts/setup.sh).
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket


def main():
    url, model, image, screenshot = sys.argv[1:5]
    browser = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not browser:
        sys.exit("no chromium on PATH (apt-get install chromium)")
    profile = tempfile.mkdtemp(prefix="skiff-chromium-")
    proc = subprocess.Popen(
        [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", f"--user-data-dir={profile}",
         "--window-size=900,900", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 30
        while time.time() < deadline and port is None:
            line = proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
        if port is None:
            sys.exit("chromium did not start its DevTools endpoint")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        counter = [0]

        def call(method, **params):
            counter[0] += 1
            ws.send(json.dumps({"id": counter[0], "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == counter[0]:
                    if "error" in msg:
                        raise RuntimeError(f"{method}: {msg['error']}")
                    return msg["result"]

        def evaluate(expr):
            return call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)["result"].get("value")

        def wait_for(expr, what, seconds=30):
            end = time.time() + seconds
            while time.time() < end:
                if evaluate(expr):
                    return
                time.sleep(0.05)
            status = evaluate("document.getElementById('status')?.textContent")
            sys.exit(f"timed out waiting for {what}; status: {status}")

        call("Page.enable")
        call("Page.navigate", url=url)
        wait_for(f"[...document.querySelectorAll('#model option')].some(o => o.value === {json.dumps(model)})", "the model list")
        evaluate(f"document.getElementById('model').value = {json.dumps(model)}")
        root = call("DOM.getDocument")["root"]["nodeId"]
        node = call("DOM.querySelector", nodeId=root, selector="#file")["nodeId"]
        call("DOM.setFileInputFiles", nodeId=node, files=[os.path.abspath(image)])
        wait_for("document.getElementById('preview').style.display === 'block'", "the preview")
        evaluate("document.getElementById('go').click()")
        wait_for("document.body.dataset.done === '1' || document.getElementById('status').className === 'error'", "the result")
        rows = evaluate("[...document.querySelectorAll('#results li')].map(li => ({label: li.dataset.label, score: parseFloat(li.dataset.score), "
                        "width: li.querySelector('.bar').getBoundingClientRect().width}))")
        status = evaluate("document.getElementById('status').textContent")
        shot = call("Page.captureScreenshot", format="png")["data"]
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot))
        print(json.dumps({"rows": rows, "status": status}))
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main()
