// The account pages (server/account_pages.py): /reset-password and /verify-email.
//
// The one-time token travels in the link's fragment (#token=...), which browsers never send to a
// server: it is in no request line, access log or Referer. This script reads it, takes it off the
// address bar, and sends it with the person's answer to the API's own routes as JSON, on a click:
// opening the page (a mail scanner following the link) uses nothing up.
(function () {
  "use strict";

  const root = document.getElementById("account");
  if (!root || !root.dataset.kind) {
    return;
  }
  const $ = (id) => document.getElementById(id);
  const show = (element, visible) => {
    if (element) {
      element.hidden = !visible;
    }
  };
  const say = (element, text) => {
    element.textContent = text || "";
    show(element, Boolean(text));
  };

  function takeToken() {
    const fragment = new URLSearchParams(window.location.hash.replace(/^#/, ""));
    const query = new URLSearchParams(window.location.search);
    const token = (fragment.get("token") || query.get("token") || "").trim();
    if (window.location.hash || query.has("token")) {
      query.delete("token");
      const rest = query.toString();
      window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : ""));
    }
    return token;
  }

  async function post(path, body) {
    let response;
    try {
      response = await fetch(path, {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (error) {
      return { status: 0, body: null, retryAfter: null };
    }
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (error) {
      parsed = null;
    }
    return { status: response.status, body: parsed, retryAfter: response.headers.get("Retry-After") };
  }

  function apiMessage(result) {
    const error = result.body && result.body.error;
    return error && typeof error.message === "string" ? error.message : "";
  }

  // What went wrong, in words (never the raw answer): the server gone, too many tries, its own
  // reason for a refused value.
  function problem(result) {
    if (result.status === 0) {
      return "The server cannot be reached right now: check the connection and try again.";
    }
    if (result.status === 429) {
      return "Too many attempts: try again in " + (result.retryAfter || "a few") + " seconds.";
    }
    if (result.status >= 500) {
      return "The server could not do this right now: try again in a moment.";
    }
    const message = apiMessage(result);
    return message ? "Refused: " + message + "." : "Refused (HTTP " + result.status + ").";
  }

  function busy(button, text) {
    if (!button.dataset.label) {
      button.dataset.label = button.textContent;
    }
    button.disabled = Boolean(text);
    button.textContent = text || button.dataset.label;
  }

  const codePoints = (text) => Array.from(text).length;

  function resetPage(token) {
    const form = $("reset-form");
    const request = $("request-form");
    const error = $("form-error");
    const minimum = Number(root.dataset.minPassword || "8");
    const maximum = Number(root.dataset.maxPassword || "1000");
    if (!token) {
      show($("missing"), true);
      show(request, true);
    } else {
      show(form, true);
      $("password").focus();
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const password = $("password").value;
      if (codePoints(password) < minimum) {
        say(error, "The password is too short: at least " + minimum + " characters.");
        return;
      }
      if (codePoints(password) > maximum) {
        say(error, "The password is too long: at most " + maximum + " characters.");
        return;
      }
      if (password !== $("password2").value) {
        say(error, "The two passwords differ: type the same one twice.");
        return;
      }
      say(error, "");
      const button = $("submit");
      busy(button, "Setting the password…");
      const result = await post(root.dataset.confirm, { token: token, password: password });
      busy(button, "");
      if (result.status === 200) {
        $("password").value = "";
        $("password2").value = "";
        show(form, false);
        show($("done"), true);
      } else if (result.status === 401) {
        show(form, false);
        show($("expired"), true);
        show(request, true);
      } else {
        say(error, problem(result));
      }
    });
    request.addEventListener("submit", async (event) => {
      event.preventDefault();
      const requestError = $("request-error");
      say(requestError, "");
      const button = $("request-submit");
      busy(button, "Sending…");
      const result = await post(root.dataset.request, { email: $("email").value.trim() });
      busy(button, "");
      if (result.status === 202) {
        show($("requested"), true);
      } else {
        say(requestError, problem(result));
      }
    });
  }

  function verifyPage(token) {
    const form = $("verify-form");
    const error = $("form-error");
    if (!token) {
      show($("missing"), true);
      return;
    }
    show(form, true);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      say(error, "");
      const button = $("submit");
      busy(button, "Confirming…");
      const result = await post(root.dataset.confirm, { token: token });
      busy(button, "");
      if (result.status === 200) {
        const email = result.body && typeof result.body.email === "string" ? result.body.email : "";
        $("done-email").textContent = email ? ": " + email : "";
        show(form, false);
        show($("done"), true);
      } else if (result.status === 401) {
        show(form, false);
        show($("expired"), true);
      } else {
        say(error, problem(result));
      }
    });
  }

  // Another link opened in this tab after this one (the address differs only by its fragment, so
  // the browser keeps the page): start afresh with its token.
  window.addEventListener("hashchange", () => {
    if (new URLSearchParams(window.location.hash.replace(/^#/, "")).has("token")) {
      window.location.reload();
    }
  });

  const token = takeToken();
  if (root.dataset.kind === "reset") {
    resetPage(token);
  } else if (root.dataset.kind === "verify") {
    verifyPage(token);
  }
})();
