// healthscore dashboard behaviour: signal dialogs, live updates over server-sent events,
// a loading state for navigations and the "/" search shortcut. Pages work without it;
// this only adds to them. Server HTML is trusted (escaped on the server); nothing here
// builds markup from strings.
(function () {
  "use strict";

  var root = document.documentElement.getAttribute("data-root") || "";
  var banner = document.getElementById("live-banner");
  var indicator = document.getElementById("live-indicator");
  var lastOpener = null;
  var pendingRefresh = false;
  var refreshTimer = null;
  var refreshing = false;

  // --- dialogs ---------------------------------------------------------------------

  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    if (!target) return;
    var opener = target.closest("[data-dialog]");
    if (opener) {
      var dialog = document.getElementById(opener.getAttribute("data-dialog"));
      if (dialog && typeof dialog.showModal === "function" && !dialog.open) {
        lastOpener = opener;
        dialog.showModal();
      }
      return;
    }
    // A click on the backdrop lands on the <dialog> element itself: close it.
    if (target.tagName === "DIALOG" && target.open) {
      var box = target.getBoundingClientRect();
      var e = /** @type {MouseEvent} */ (event);
      var inside = e.clientX >= box.left && e.clientX <= box.right &&
        e.clientY >= box.top && e.clientY <= box.bottom;
      if (!inside) target.close();
    }
  });

  document.addEventListener("close", function (event) {
    if (!(event.target instanceof HTMLDialogElement)) return;
    if (lastOpener && document.contains(lastOpener)) lastOpener.focus();
    lastOpener = null;
    if (pendingRefresh) scheduleRefresh(0);
  }, true);

  // --- loading state ----------------------------------------------------------------

  function busy() {
    document.body.classList.add("is-loading");
    document.body.setAttribute("aria-busy", "true");
  }
  function idle() {
    document.body.classList.remove("is-loading");
    document.body.removeAttribute("aria-busy");
  }
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-loading")) return;
    if (form.method === "get") {
      // Leave empty filters out of the address: shorter, shareable links.
      Array.prototype.forEach.call(form.elements, function (field) {
        if (field.name && field.value === "" && !field.disabled) {
          field.disabled = true;
          field.setAttribute("data-was-empty", "");
        }
      });
    }
    busy();
  });
  document.addEventListener("click", function (event) {
    var target = event.target instanceof Element ? event.target : null;
    var link = target && target.closest("a[href]");
    var mouse = /** @type {MouseEvent} */ (event);
    if (!link || mouse.ctrlKey || mouse.metaKey || mouse.shiftKey || mouse.button !== 0) return;
    if (link.target || link.origin !== location.origin || link.hash && link.pathname === location.pathname) return;
    busy();
  });
  window.addEventListener("pageshow", function () {
    idle();
    document.querySelectorAll("[data-was-empty]").forEach(function (field) {
      field.disabled = false;
      field.removeAttribute("data-was-empty");
    });
  });

  // --- keyboard: "/" jumps to search ------------------------------------------------

  document.addEventListener("keydown", function (event) {
    if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
    var active = document.activeElement;
    if (active && (active.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) return;
    var search = document.getElementById("q");
    event.preventDefault();
    if (search) {
      search.focus();
      search.select();
    } else {
      location.href = root + "/accounts";
    }
  });

  // --- live updates -----------------------------------------------------------------

  function setIndicator(state, text) {
    if (!indicator) return;
    indicator.setAttribute("data-state", state);
    var label = indicator.querySelector(".live-text");
    if (label) label.textContent = text;
    indicator.setAttribute("title", text);
  }

  function announce(text, tone, action) {
    if (!banner) return;
    banner.replaceChildren();
    if (tone) banner.setAttribute("data-tone", tone); else banner.removeAttribute("data-tone");
    var message = document.createElement("span");
    message.textContent = text;
    banner.appendChild(message);
    if (action) banner.appendChild(action);
  }

  function button(text, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "btn btn-small";
    b.textContent = text;
    b.addEventListener("click", onClick);
    return b;
  }

  function time() {
    return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  function editing() {
    var active = document.activeElement;
    return !!(active && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName));
  }

  function anyDialogOpen() {
    return !!document.querySelector("dialog[open]");
  }

  function scheduleRefresh(delay) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(refreshRegions, delay);
  }

  // Re-read this page and swap the regions marked data-live-region, keeping scroll,
  // focus and open dialogs: the page updates in place instead of reloading.
  function refreshRegions() {
    if (refreshing) { pendingRefresh = true; return; }
    if (anyDialogOpen() || editing()) {
      pendingRefresh = true;
      announce("Scores changed.", "", button("Show new scores", function () {
        pendingRefresh = false;
        refreshRegions();
      }));
      return;
    }
    pendingRefresh = false;
    refreshing = true;
    fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) {
        if (response.redirected && new URL(response.url).pathname.endsWith("/login")) {
          throw new Error("signed-out");
        }
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        var focusedId = document.activeElement && document.activeElement.id;
        var focusedHref = document.activeElement && document.activeElement.getAttribute("href");
        var swapped = 0;
        document.querySelectorAll("[data-live-region][id]").forEach(function (region) {
          var replacement = fresh.getElementById(region.id);
          if (!replacement) return;
          if (replacement.innerHTML === region.innerHTML) return;
          var node = document.importNode(replacement, true);
          node.classList.add("just-updated");
          region.replaceWith(node);
          swapped += 1;
        });
        var refocus = focusedId ? document.getElementById(focusedId) :
          focusedHref ? document.querySelector('main a[href="' + CSS.escape(focusedHref) + '"]') : null;
        if (refocus && document.activeElement === document.body) refocus.focus({ preventScroll: true });
        announce(swapped ? "Scores updated at " + time() + "." : "Scores were recalculated at " + time() + "; nothing on this page changed.");
        document.body.setAttribute("data-updated-at", String(Date.now()));
      })
      .catch(function (error) {
        if (error && error.message === "signed-out") {
          var link = document.createElement("a");
          link.href = root + "/login?next=" + encodeURIComponent(location.pathname + location.search);
          link.textContent = "Sign in again";
          announce("Your session has ended.", "warning", link);
        } else {
          announce("Scores changed, but this page could not be updated.", "warning",
            button("Reload", function () { location.reload(); }));
        }
      })
      .finally(function () {
        refreshing = false;
        if (pendingRefresh && !anyDialogOpen() && !editing()) scheduleRefresh(0);
      });
  }

  function relevant(data) {
    var customer = document.body.getAttribute("data-customer-id");
    if (!customer) return true;
    var ids = data && Array.isArray(data.customerIds) ? data.customerIds : [];
    return ids.length === 0 || ids.indexOf(customer) !== -1;
  }

  function connect() {
    if (!("EventSource" in window) || !document.body.hasAttribute("data-live")) {
      return;  // a page with nothing that changes with scores: no indicator at all
    }
    if (indicator) indicator.hidden = false;
    setIndicator("connecting", "Connecting…");
    var source = new EventSource(root + "/events");
    var wobble = null;
    source.addEventListener("open", function () {
      clearTimeout(wobble);
      setIndicator("live", "Live");
    });
    source.addEventListener("scores-changed", function (event) {
      var data = null;
      try { data = JSON.parse(event.data); } catch (ignored) { data = null; }
      if (relevant(data)) scheduleRefresh(400);
    });
    source.addEventListener("error", function () {
      if (source.readyState === EventSource.CLOSED) {
        setIndicator("error", "Live updates stopped");
      } else {
        // The server ends each stream after a while and the browser reconnects at once
        // (missed events are replayed): only say so if reconnecting takes a while.
        clearTimeout(wobble);
        wobble = setTimeout(function () { setIndicator("connecting", "Reconnecting…"); }, 4000);
      }
    });
    window.addEventListener("pagehide", function () { source.close(); });
  }

  connect();
})();
