// newsearch serve: the page works without this script; it only makes searching quicker.
// - search as you type (the address follows, so it stays bookmarkable);
// - filters, facets and pages without reloading the page, with back and forward working;
// - keyboard: "/" focuses the search box, ArrowDown/ArrowUp (or j/k) move through the
//   results, Enter opens one, Escape returns to the box;
// - suggestions as you type under the box (GET /api/suggest): ArrowDown/ArrowUp move through
//   them while they are open, Enter or a click searches the one chosen, Escape closes them.
// New results come as the server's own HTML (the same page, fetched), so there is one renderer
// and post text is escaped by it; nothing here builds HTML from data.
(function () {
  "use strict";
  var form = document.getElementById("search");
  if (!form || !window.fetch || !window.history || !window.DOMParser) return;
  var box = document.getElementById("q");
  var timer = null;
  var pending = null;
  var selected = -1;

  function addressOf() {
    var params = new URLSearchParams();
    new FormData(form).forEach(function (value, key) {
      if (value !== "" && !(key === "sort" && value === "relevance")) params.append(key, value);
    });
    var text = params.toString();
    return "/" + (text ? "?" + text : "");
  }

  function swap(doc, all) {
    ["results", "form-state"].forEach(function (id) {
      var fresh = doc.getElementById(id);
      var old = document.getElementById(id);
      if (fresh && old) old.replaceWith(document.adoptNode(fresh));
    });
    var freshBox = doc.getElementById("q");
    if (all && freshBox) box.value = freshBox.value;
    document.title = doc.title;
    selected = -1;
  }

  function load(address, how, all) {
    if (pending) pending.abort();
    pending = new AbortController();
    var mine = pending;
    return fetch(address, { signal: mine.signal, headers: { Accept: "text/html" } })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        if (mine !== pending) return;
        pending = null;
        swap(new DOMParser().parseFromString(html, "text/html"), all);
        if (how === "push") history.pushState({ newsearch: 1 }, "", address);
        else if (how === "replace") history.replaceState({ newsearch: 1 }, "", address);
      })
      .catch(function (err) {
        if (err && err.name === "AbortError") return;
        window.location.assign(address); // let the browser show what the server says
      });
  }

  function searchNow(how) {
    clearTimeout(timer);
    var address = addressOf();
    if (address === location.pathname + location.search) return;
    load(address, how, false);
  }

  form.addEventListener("input", function (event) {
    if (event.target !== box) return;
    clearTimeout(timer);
    // While typing, the address is replaced, not pushed: back leaves the search, not a letter.
    timer = setTimeout(function () { searchNow("replace"); }, 250);
  });
  form.addEventListener("change", function (event) {
    if (event.target !== box) searchNow("push");
  });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    searchNow("push");
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-nav]");
    if (!link || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    if (link.origin !== location.origin) return;
    event.preventDefault();
    load(link.pathname + link.search, "push", true).then(function () {
      window.scrollTo(0, 0);
    });
  });
  window.addEventListener("popstate", function () {
    load(location.pathname + location.search, null, true);
  });

  // --- suggestions: a listbox under the box (the ARIA combobox pattern) ----------------------
  var list = document.getElementById("suggestions");
  var suggestTimer = null;
  var suggestPending = null;
  var active = -1;

  function options() {
    return list ? Array.prototype.slice.call(list.querySelectorAll("li")) : [];
  }
  function closeSuggestions() {
    if (!list) return;
    list.hidden = true;
    list.replaceChildren();
    active = -1;
    box.setAttribute("aria-expanded", "false");
    box.removeAttribute("aria-activedescendant");
  }
  function highlight(i) {
    var all = options();
    active = i;
    all.forEach(function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
    if (i >= 0 && all[i]) box.setAttribute("aria-activedescendant", all[i].id);
    else box.removeAttribute("aria-activedescendant");
  }
  function choose(text) {
    box.value = text;
    closeSuggestions();
    searchNow("push");
  }
  function showSuggestions(prefix, items) {
    if (box.value !== prefix || document.activeElement !== box) return;
    list.replaceChildren();
    active = -1;
    items.forEach(function (item, i) {
      var li = document.createElement("li");
      li.id = "suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.dataset.text = item.text;
      var text = document.createElement("span");
      text.className = "text";
      text.textContent = item.text;
      var posts = document.createElement("span");
      posts.className = "posts";
      posts.textContent = item.posts + " 篇";
      li.append(text, posts);
      // mousedown, not click: the box keeps the focus until the choice is made.
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        choose(item.text);
      });
      list.append(li);
    });
    list.hidden = items.length === 0;
    box.setAttribute("aria-expanded", items.length ? "true" : "false");
  }
  function suggest() {
    var prefix = box.value;
    if (!prefix.trim()) { closeSuggestions(); return; }
    if (suggestPending) suggestPending.abort();
    suggestPending = new AbortController();
    var mine = suggestPending;
    fetch("/api/suggest?" + new URLSearchParams({ q: prefix, limit: "8" }), {
      signal: mine.signal, headers: { Accept: "application/json" },
    })
      .then(function (response) { return response.ok ? response.json() : { suggestions: [] }; })
      .then(function (data) {
        if (mine !== suggestPending) return;
        suggestPending = null;
        showSuggestions(prefix, data.suggestions || []);
      })
      .catch(function () {});
  }
  if (list) {
    box.addEventListener("input", function () {
      clearTimeout(suggestTimer);
      suggestTimer = setTimeout(suggest, 80);
    });
    box.addEventListener("blur", function () { setTimeout(closeSuggestions, 150); });
    // Before the page's own keys: while suggestions are open, the arrows move through them.
    box.addEventListener("keydown", function (event) {
      var all = options();
      if (list.hidden || !all.length) return;
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        event.stopPropagation();
        var step = event.key === "ArrowDown" ? 1 : -1;
        var next = active + step;
        if (next < -1) next = all.length - 1;
        if (next >= all.length) next = -1;
        highlight(next);
      } else if (event.key === "Enter" && active >= 0) {
        event.preventDefault();
        event.stopPropagation();
        choose(all[active].dataset.text);
      } else if (event.key === "Escape") {
        event.stopPropagation();
        closeSuggestions();
      }
    });
    form.addEventListener("submit", closeSuggestions);
  }

  function hits() {
    return Array.prototype.slice.call(document.querySelectorAll("#results .hit"));
  }
  function select(i) {
    var all = hits();
    if (!all.length) return;
    selected = Math.max(0, Math.min(all.length - 1, i));
    all.forEach(function (hit, j) { hit.classList.toggle("selected", j === selected); });
    all[selected].querySelector("a.title").focus();
  }
  document.addEventListener("keydown", function (event) {
    var typing = event.target === box || /^(INPUT|SELECT|TEXTAREA)$/.test(event.target.tagName);
    if (event.key === "/" && !typing) {
      event.preventDefault();
      box.focus();
      box.select();
    } else if (event.key === "ArrowDown" || (event.key === "j" && !typing)) {
      if (event.target.tagName === "SELECT") return;
      event.preventDefault();
      select(selected + 1);
    } else if (event.key === "ArrowUp" || (event.key === "k" && !typing)) {
      if (event.target === box || event.target.tagName === "SELECT") return;
      event.preventDefault();
      if (selected <= 0) { selected = -1; box.focus(); } else select(selected - 1);
    } else if (event.key === "Escape" && !typing) {
      selected = -1;
      box.focus();
    }
  });
})();
