/// The page `GET /` serves: pick a model, choose or drop a JPEG, see the top-k labels as bars. Plain HTML, CSS
/// and JavaScript in the binary; it talks only to this server (`/v1/models`, `/v1/models/NAME:labels`).
enum UploadPage {
    static let html = """
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Skiff — classify an image</title>
    <style>
      body { font: 16px/1.4 system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; padding: 0 1rem; color: #1d232a; }
      h1 { font-size: 1.4rem; }
      label { display: block; margin: .8rem 0 .3rem; font-weight: 600; }
      select, button { font: inherit; padding: .3rem .6rem; }
      #drop { border: 2px dashed #8a9aa9; border-radius: .5rem; padding: 1.5rem; text-align: center; color: #51606e; }
      #drop.over { background: #eef5fb; border-color: #2b6cb0; }
      #preview { max-width: 100%; max-height: 14rem; display: none; margin: .8rem auto; }
      #status { min-height: 1.4rem; color: #51606e; }
      #status.error { color: #b42318; }
      ol { padding: 0; list-style: none; }
      li { display: grid; grid-template-columns: 11rem 1fr 4.5rem; gap: .6rem; align-items: center; margin: .3rem 0; }
      .bar { height: .9rem; background: #2b6cb0; border-radius: .2rem; }
      .score { text-align: right; font-variant-numeric: tabular-nums; }
    </style>
    </head>
    <body>
    <h1>Classify an image</h1>
    <form id="form">
      <label for="model">Model</label>
      <select id="model" name="model"></select>
      <label for="file">Image (JPEG or PNG)</label>
      <div id="drop">Drop a JPEG or PNG here, or <input id="file" name="file" type="file" accept="image/jpeg,image/png"></div>
      <img id="preview" alt="the chosen image">
      <p><button id="go" type="submit">Classify</button></p>
    </form>
    <p id="status" role="status"></p>
    <ol id="results"></ol>
    <script>
    const $ = (id) => document.getElementById(id);
    let chosen = null;
    const className = (c) => c.label ?? ("class " + c.index);
    function status(text, error) { $("status").textContent = text; $("status").className = error ? "error" : ""; }
    async function loadModels() {
      const r = await fetch("/v1/models");
      const body = await r.json();
      for (const m of body.models.filter((m) => m.image)) {
        const o = document.createElement("option");
        o.value = m.name; o.textContent = m.name + " (" + m.image.width + "×" + m.image.height + ")";
        $("model").appendChild(o);
      }
      if (!$("model").options.length) status("No model with an image input is being served.", true);
    }
    function choose(file) {
      chosen = file;
      $("preview").src = URL.createObjectURL(file);
      $("preview").style.display = "block";
      status(file.name + " (" + file.size + " bytes)");
    }
    $("file").addEventListener("change", (e) => { if (e.target.files[0]) choose(e.target.files[0]); });
    const drop = $("drop");
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); if (e.dataTransfer.files[0]) choose(e.dataTransfer.files[0]); });
    $("form").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!chosen) { status("Choose an image first.", true); return; }
      status("Classifying…");
      $("results").replaceChildren();
      const r = await fetch("/v1/models/" + encodeURIComponent($("model").value) + ":labels", {
        method: "POST", headers: { "Content-Type": chosen.type || "image/jpeg" }, body: chosen });
      const body = await r.json();
      if (!r.ok) { status(body.error || ("HTTP " + r.status), true); return; }
      const p = body.predictions[0];
      for (const c of p.top_k) {
        const li = document.createElement("li");
        li.dataset.label = className(c);
        li.dataset.score = String(c.score);
        const name = document.createElement("span"); name.className = "label"; name.textContent = li.dataset.label;
        const bar = document.createElement("div"); bar.className = "bar"; bar.style.width = Math.max(1, c.score * 100) + "%";
        const score = document.createElement("span"); score.className = "score"; score.textContent = (c.score * 100).toFixed(1) + "%";
        li.append(name, bar, score);
        $("results").appendChild(li);
      }
      status(body.model + ": " + className(p) + " in " + body.timing_ms.total.toFixed(1) + " ms");
      document.body.dataset.done = "1";
    });
    loadModels().catch((err) => status("Cannot list models: " + err, true));
    </script>
    </body>
    </html>
    """
}
