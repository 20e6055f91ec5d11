extension QAPage {
    /// The pages' only script: live updates from the feed (Server-Sent Events), playing the recording from a line,
    /// and saving the scorecard. Served by Hotline itself (`/qa/static/qa.js`).
    static let script = #"""
    (function () {
      "use strict";
      function el(tag, cls, text) { var e = document.createElement(tag); if (cls) e.className = cls; if (text != null) e.textContent = text; return e; }
      function clock(s) { s = Math.max(0, Math.floor(s)); return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0"); }
      function badge(status) { return el("span", "badge " + status, status); }
      function scoreEl(v) {
        if (v == null) return el("span", "muted", "–");
        return el("span", "score " + (v >= 90 ? "good" : v >= 70 ? "fair" : "poor"), String(Math.round(v)));
      }
      function alertBox(f) {
        var box = document.getElementById("alerts"); if (!box) return;
        var a = el("div", "alert"); a.setAttribute("role", "alert");
        var link = el("a", null, "Alert: " + f.rule + " — " + f.message); link.href = "/qa/calls/" + encodeURIComponent(f.callId);
        var close = el("button", "dismiss", "×"); close.type = "button"; close.title = "Dismiss";
        close.addEventListener("click", function () { a.remove(); });
        a.appendChild(link); a.appendChild(close); box.appendChild(a); setTimeout(function () { a.remove(); }, 10000);
      }
      // The store's state, from the feed: a banner while it is down; an outage page reloads itself when it is back.
      var banner = document.getElementById("store-status");
      function storeState(e) {
        var s = e.store; if (!s || !banner) return;
        if (s.available) {
          banner.hidden = true; banner.textContent = "";
          if (document.getElementById("outage")) location.reload();
        } else {
          banner.textContent = "The transcript store is unavailable (" + (s.error || "no answer") +
            "): history and search wait for it; live calls are still answered and shown.";
          banner.hidden = false;
        }
      }
      var feed = null;
      function listen(handlers) {
        if (!window.EventSource) return;
        feed = new EventSource("/v1/qa/feed");
        handlers.store = storeState;
        Object.keys(handlers).forEach(function (kind) {
          feed.addEventListener(kind, function (m) { try { handlers[kind](JSON.parse(m.data)); } catch (e) { console.error(e); } });
        });
        // The browser reconnects by itself (with Last-Event-ID); meanwhile the live list may be out of date.
        var live = document.getElementById("live");
        feed.addEventListener("error", function () { if (live) live.classList.add("stale"); });
        feed.addEventListener("open", function () { if (live) live.classList.remove("stale"); });
      }
      // An outage page without live calls (signed out) still learns when the store is back.
      if (document.getElementById("outage") && !document.getElementById("live")) listen({});

      // Calls page: live call cards.
      var live = document.getElementById("live");
      if (live) {
        var count = document.getElementById("live-count");
        function card(call) {
          var id = "live-" + call.id, c = document.getElementById(id);
          if (!c) {
            var empty = live.querySelector(".empty"); if (empty) empty.remove();
            c = el("a", "live-call"); c.id = id; c.href = "/qa/calls/" + encodeURIComponent(call.id);
            c.appendChild(el("b")); c.appendChild(el("span", "muted")); c.appendChild(el("span", "last")); c.appendChild(el("span"));
            live.appendChild(c);
          }
          c.children[0].textContent = call.intent || "listening…";
          c.children[1].textContent = call.gateway + " · " + (call.callerNumber || "unknown caller");
          c.replaceChild(scoreEl(call.score), c.children[3]);
          count.textContent = live.querySelectorAll(".live-call").length;
          return c;
        }
        function cards(calls) {
          var keep = {};
          calls.forEach(function (call) { keep["live-" + call.id] = true; card(call); });
          live.querySelectorAll(".live-call").forEach(function (c) { if (!keep[c.id]) c.remove(); });
          count.textContent = live.querySelectorAll(".live-call").length;
        }
        listen({
          "snapshot": function (e) { cards(e.calls || []); },
          "call-started": function (e) { card(e.call); },
          "call-updated": function (e) { if (document.getElementById("live-" + e.callId)) card(e.call); },
          "utterance": function (e) {
            var c = document.getElementById("live-" + e.callId);
            if (c) c.children[2].textContent = e.utterance.speaker + ": " + e.utterance.text;
          },
          "call-ended": function (e) {
            var c = document.getElementById("live-" + e.callId); if (c) c.remove();
            count.textContent = live.querySelectorAll(".live-call").length;
          },
          "alert": function (e) { alertBox(e.finding); }
        });
      }

      // Call page: play from a line, live lines, findings, scorecard.
      var callSection = document.getElementById("call");
      if (callSection) {
        var callId = callSection.dataset.call, player = document.getElementById("player"), transcript = document.querySelector("#transcript tbody");
        function playFrom(start) {
          if (!player) return;
          if (!player.getAttribute("src") && player.dataset.src) player.src = player.dataset.src;
          var go = function () { player.currentTime = start; player.play().catch(function () {}); };
          if (player.readyState >= 1) go(); else player.addEventListener("loadedmetadata", go, { once: true });
        }
        document.addEventListener("click", function (ev) {
          var b = ev.target.closest(".play"); if (!b) return;
          ev.preventDefault(); playFrom(parseFloat(b.dataset.start));
        });
        if (player) player.addEventListener("timeupdate", function () {
          var t = player.currentTime, rows = transcript.querySelectorAll("tr.line"), current = null;
          rows.forEach(function (r) { if (parseFloat(r.dataset.start) <= t) current = r; r.classList.remove("playing"); });
          if (current) current.classList.add("playing");
        });
        function row(u) {
          var id = "line-" + u.sequence, r = document.getElementById(id);
          if (!r) {
            r = el("tr"); r.id = id;
            var t = el("td"), b = el("button", "play"); b.title = "Play from here"; t.appendChild(b);
            r.appendChild(t); r.appendChild(el("td", "speaker")); var x = el("td", "text"); r.appendChild(x);
            transcript.appendChild(r);
          }
          r.className = "line " + u.speaker + (r.classList.contains("flagged") ? " flagged" : "");
          r.dataset.start = u.start;
          var btn = r.querySelector(".play"); btn.dataset.start = u.start; btn.textContent = "▶ " + clock(u.start);
          r.children[1].textContent = u.speaker;
          var text = r.children[2], notes = text.querySelectorAll(".note");
          text.textContent = u.text;
          var meta = [];
          if (u.speaker === "caller") {
            if (u.intent) meta.push("intent " + u.intent); else if (u.intentConfidence != null) meta.push("not understood");
            if (u.confidence != null) meta.push("confidence " + u.confidence.toFixed(2));
          }
          text.appendChild(el("span", "meta", meta.join(" · ")));
          notes.forEach(function (n) { text.appendChild(n); });
        }
        function finding(f) {
          var list = document.getElementById("findings"), none = list.querySelector(".none"); if (none) none.remove();
          var li = el("li", "finding " + f.severity); li.appendChild(el("b", null, f.rule)); li.appendChild(document.createTextNode(" " + f.message + " "));
          li.appendChild(el("span", "muted", "at " + clock(f.at))); list.appendChild(li);
          if (f.utterance != null) {
            var r = document.getElementById("line-" + f.utterance);
            if (r) { r.classList.add("flagged", f.severity); r.children[2].appendChild(el("span", "note", f.rule + ": " + f.message)); }
          }
        }
        if (callSection.dataset.status === "live") {
          listen({
            // A snapshot without this call: it ended while the feed was away; the page shows how it ended.
            "snapshot": function (e) {
              if (callSection.dataset.status !== "live" || (e.calls || []).some(function (c) { return c.id === callId; })) return;
              fetch("/v1/qa/calls/" + encodeURIComponent(callId), { credentials: "same-origin" })
                .then(function (r) { return r.ok ? r.json() : null; })
                .then(function (d) { if (d && d.call && d.call.status !== "live") location.reload(); })
                .catch(function () {});
            },
            "utterance": function (e) { if (e.callId === callId) row(e.utterance); },
            "finding": function (e) { if (e.callId === callId) finding(e.finding); },
            "call-updated": function (e) {
              if (e.callId !== callId) return;
              document.getElementById("intent").textContent = e.call.intent || "–";
              var s = document.getElementById("score"); s.replaceChildren(scoreEl(e.call.score));
            },
            "call-ended": function (e) {
              if (e.callId !== callId) return;
              document.getElementById("status").replaceChildren(badge(e.call.status));
              document.getElementById("length").textContent = clock(e.call.duration);
              callSection.dataset.status = e.call.status;
              var note = document.getElementById("no-recording");
              if (note) note.textContent = "Preparing the recording…";
              setTimeout(function () {
                if (player && player.dataset.src) { player.preload = "metadata"; player.src = player.dataset.src + "?t=" + Date.now(); }
                if (note) note.remove();
              }, 1500);
            },
            "alert": function (e) { alertBox(e.finding); }
          });
        }
        var form = document.getElementById("review");
        form.addEventListener("submit", function (ev) {
          ev.preventDefault();
          var scores = {}, status = document.getElementById("review-status");
          form.querySelectorAll("select").forEach(function (s) { if (s.value !== "") scores[s.name] = parseInt(s.value, 10); });
          status.textContent = "Saving…";
          fetch("/v1/qa/calls/" + encodeURIComponent(callId) + "/review", {
            method: "PUT", credentials: "same-origin", headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ scores: scores, comment: form.querySelector("textarea").value })
          }).then(function (r) {
            if (!r.ok) return r.text().then(function (t) { throw new Error(t || r.statusText); });
            return r.json();
          }).then(function () { status.textContent = "Saved ✓"; })
            .catch(function (e) { status.textContent = "Not saved: " + e.message; });
        });
      }

      // Every page: alerts.
      if (!feed && document.querySelector("nav") && !document.getElementById("call")) listen({ "alert": function (e) { alertBox(e.finding); } });
    })();
    """#
}
