/// The CSS and JavaScript embedded in every flame graph SVG (kept out of FlameGraphSVG.swift for readability).
/// Both go inside CDATA sections, so neither may contain "]]>".
enum FlameGraphScript {
    static let style = """
        text { font-family: Verdana, "DejaVu Sans", sans-serif; fill: #000; }
        #subtitle { fill: #555; }
        .btn { cursor: pointer; fill: #335; }
        .btn:hover { text-decoration: underline; }
        #frames > g { cursor: pointer; }
        #frames > g:hover rect { stroke: #000; stroke-width: 0.5; }
        #frames text { pointer-events: none; }
        #frames .match rect { fill: rgb(230,0,230); }
        .parent { opacity: 0.5; }
        .hide { display: none; }
        """

    /// Frame geometry lives in data-x / data-w (samples) and data-d (depth) so zooming never
    /// accumulates rounding; names come from the <title> ("name (N samples, P%)") minus the
    /// suffix, which is rebuilt from data-w and data-unit rather than guessed.
    static let script = #"""
        (function () {
          "use strict";
          const byId = (id) => document.getElementById(id);
          const root = byId("frames"), details = byId("details"), matched = byId("matched");
          const unzoomBtn = byId("unzoom"), searchBtn = byId("search");
          const attr = (e, n) => +e.getAttribute(n);
          const total = attr(root, "data-total"), xpad = attr(root, "data-xpad");
          const gw = attr(root, "data-gw"), cw = attr(root, "data-cw"), unit = root.getAttribute("data-unit");
          const frames = Array.from(root.children, (g, i) => {
            const info = g.querySelector("title").textContent, w = attr(g, "data-w");
            g.fgIndex = i;
            return { g, info, name: info.slice(0, info.lastIndexOf(" (" + w + " " + unit + ", ")),
                     rect: g.querySelector("rect"), text: g.querySelector("text"),
                     x: attr(g, "data-x"), w, d: attr(g, "data-d") };
          });
          let searching = false, lastTerm = "";

          function frameOf(ev) {
            for (let n = ev.target; n && n !== root; n = n.parentNode)
              if (n.fgIndex !== undefined) return frames[n.fgIndex];
            return null;
          }
          function fit(name, w) {
            const n = Math.floor((w - 6) / cw);
            if (n < 3) return "";
            return name.length <= n ? name : name.slice(0, n - 2) + "..";
          }
          function place(f, x, w) {
            f.rect.setAttribute("x", x.toFixed(2));
            f.rect.setAttribute("width", w.toFixed(2));
            f.text.setAttribute("x", (x + 3).toFixed(2));
            f.text.textContent = fit(f.name, w);
          }
          function show(f, visible, faded) {
            f.g.classList.toggle("hide", !visible);
            f.g.classList.toggle("parent", faded);
          }

          // Zoom: f spans the full width; its ancestors stay (full width, faded); everything
          // else outside f's sample range is hidden. Frames are intervals of one tree, so
          // containment of [x, x+w) decides ancestry.
          function zoom(f) {
            if (f.d === 0) return unzoom();
            const end = f.x + f.w, scale = gw / f.w;
            for (const e of frames) {
              if (e.d < f.d) {
                const anc = e.x <= f.x && e.x + e.w >= end;
                show(e, anc, anc);
                if (anc) place(e, xpad, gw);
              } else {
                const inside = e.x >= f.x && e.x + e.w <= end;
                show(e, inside, false);
                if (inside) place(e, xpad + (e.x - f.x) * scale, e.w * scale);
              }
            }
            unzoomBtn.classList.remove("hide");
          }
          function unzoom() {
            const scale = gw / total;
            for (const e of frames) {
              show(e, true, false);
              place(e, xpad + e.x * scale, e.w * scale);
            }
            unzoomBtn.classList.add("hide");
          }

          // Search: highlight frames whose name matches; the matched share counts each sample
          // once, so nested matches (a frame and its ancestor) are not added twice.
          function search(re) {
            const hits = [];
            for (const e of frames) {
              const m = re.test(e.name);
              e.g.classList.toggle("match", m);
              if (m) hits.push(e);
            }
            hits.sort((a, b) => a.x - b.x || b.w - a.w);
            let sum = 0, covered = -1;
            for (const e of hits) {
              if (e.x >= covered) { sum += e.w; covered = e.x + e.w; }
            }
            matched.textContent = "Matched: " + (100 * sum / total).toFixed(2) + "%";
            searchBtn.textContent = "Reset Search";
            searching = true;
          }
          function resetSearch() {
            for (const e of frames) e.g.classList.remove("match");
            matched.textContent = " ";
            searchBtn.textContent = "Search";
            searching = false;
          }
          function askSearch() {
            const term = window.prompt("Search frames (regular expression):", lastTerm);
            if (term === null || term === "") return;
            lastTerm = term;
            let re;
            try { re = new RegExp(term); } catch (err) {
              details.textContent = err.message;  // already says "Invalid regular expression"
              return;
            }
            search(re);
          }

          root.addEventListener("mouseover", (ev) => { const f = frameOf(ev); if (f) details.textContent = f.info; });
          root.addEventListener("mouseout", () => { details.textContent = " "; });
          root.addEventListener("click", (ev) => { const f = frameOf(ev); if (f) zoom(f); });
          unzoomBtn.addEventListener("click", unzoom);
          searchBtn.addEventListener("click", () => (searching ? resetSearch() : askSearch()));
          document.addEventListener("keydown", (ev) => {
            if ((ev.ctrlKey || ev.metaKey) && (ev.key === "f" || ev.key === "F")) {
              ev.preventDefault();
              askSearch();
            } else if (ev.key === "Escape") {
              resetSearch();
            }
          });
        })();

        """#
}
